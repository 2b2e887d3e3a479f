"""The placement core's node record from the event contract: ``NodeInventoried`` (+ its repair state) → ``NodeSpec``.

One converter for every caller (the scheduler service, the replay), so a node means the same thing everywhere.
"""

from __future__ import annotations

from libs.events import NodeInventoried

from .model import NodeSpec, Taint, TaintEffect, Topology

CORDONED_STATES = frozenset({"cordoned", "draining"})  # node repair keeps new pods away, the node still works
UNHEALTHY_STATES = frozenset({"repairing", "retired"})  # the node is out of service
UNSCHEDULABLE_STATES = CORDONED_STATES | UNHEALTHY_STATES


def node_spec_of(event: NodeInventoried, repair_state: str | None = None) -> NodeSpec:
    """Returns the core's node record: cordoned while draining, unhealthy while repairing or retired."""
    t = event.topology
    return NodeSpec(
        name=event.node_id, cpu_milli=event.cpu_milli, memory_mib=event.memory_mib, gpu_count=event.gpu,
        gpu_model=event.gpu_model or "", cluster=event.cluster, pool=event.pool, labels=dict(event.labels),
        taints=tuple(Taint(x.key, x.value or "", TaintEffect(x.effect)) for x in event.taints),
        topology=Topology(zone=t.zone, block=t.block, rack=t.rack, host=t.host),
        healthy=repair_state not in UNHEALTHY_STATES, cordoned=repair_state in CORDONED_STATES,
        price_per_hour=event.price_per_hour_micros / 1_000_000)
