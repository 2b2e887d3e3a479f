"""The placement core's records from the event contract: ``NodeInventoried`` (+ its repair state) → ``NodeSpec``,
and a pod's GPU request (``Resources``) → the core's ``(gpu_count, gpu_milli)``.

One converter for every caller (the scheduler service, the replay), so a node means the same thing everywhere.
"""

from __future__ import annotations

from libs.events import NodeInventoried, Resources

from .model import GPU_MILLI, NodeSpec, Taint, TaintEffect, Topology

CORDONED_STATES = frozenset({"cordoned", "draining"})  # node repair keeps new pods away, the node still works
UNHEALTHY_STATES = frozenset({"repairing", "retired"})  # the node is out of service
UNSCHEDULABLE_STATES = CORDONED_STATES | UNHEALTHY_STATES


def schedulability(repair_state: str | None) -> tuple[bool, bool]:
    """Returns ``(healthy, cordoned)`` of a node in ``repair_state``: cordoned while draining, unhealthy while
    repairing or retired."""
    return repair_state not in UNHEALTHY_STATES, repair_state in CORDONED_STATES


def node_spec_of(event: NodeInventoried, repair_state: str | None = None) -> NodeSpec:
    """Returns the core's node record: cordoned while draining, unhealthy while repairing or retired."""
    t = event.topology
    healthy, cordoned = schedulability(repair_state)
    return NodeSpec(
        name=event.node_id, cpu_milli=event.cpu_milli, memory_mib=event.memory_mib, gpu_count=event.gpu,
        gpu_model=event.gpu_model or "", cluster=event.cluster, pool=event.pool, labels=dict(event.labels),
        taints=tuple(Taint(x.key, x.value or "", TaintEffect(x.effect)) for x in event.taints),
        topology=Topology(zone=t.zone, block=t.block, rack=t.rack, host=t.host),
        healthy=healthy, cordoned=cordoned,
        price_per_hour=event.price_per_hour_micros / 1_000_000)


def gpu_request_of(requests: Resources) -> tuple[int, int]:
    """Returns a pod's GPUs as the core's ``(gpu_count, gpu_milli)``: whole GPUs, a share of one, or none."""
    if requests.gpu:
        return requests.gpu, GPU_MILLI
    if requests.gpu_milli:
        return 1, requests.gpu_milli
    return 0, GPU_MILLI
