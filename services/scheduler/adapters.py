"""Pure converters between the event contracts (libs.events) and the placement core's records (libs.placement).

Inbound: ``NodeInventoried`` (+ the node's repair state) → ``NodeSpec``; ``QuotaReserved`` → ``Workload``.
Outbound: a ``PlacementResult`` → ``PodAssignment`` events; bound pods ↔ the rows the scheduler stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from libs import events as ev
from libs import placement as pl
from libs.placement.inventory import (  # noqa: F401 - re-exported: the scheduler's node vocabulary
    UNSCHEDULABLE_STATES,
    gpu_request_of,
    node_spec_of,
    schedulability,
)

_LEVELS = {"host": pl.TopologyLevel.HOST, "rack": pl.TopologyLevel.RACK, "block": pl.TopologyLevel.BLOCK,
           "zone": pl.TopologyLevel.ZONE}


def node_spec_of_stored(raw: dict, repair_state: str | None = None) -> pl.NodeSpec:
    """Returns the node record of a stored ``NodeInventoried`` JSON object (rebuild: no re-validation)."""
    t = raw["topology"]
    healthy, cordoned = schedulability(repair_state)
    return pl.NodeSpec(
        name=raw["node_id"], cpu_milli=raw["cpu_milli"], memory_mib=raw["memory_mib"], gpu_count=raw["gpu"],
        gpu_model=raw.get("gpu_model") or "", cluster=raw["cluster"], pool=raw["pool"], labels=raw.get("labels") or {},
        taints=tuple(pl.Taint(x["key"], x.get("value") or "", pl.TaintEffect(x.get("effect") or "NoSchedule"))
                     for x in raw.get("taints") or ()),
        topology=pl.Topology(zone=t["zone"], block=t["block"], rack=t["rack"], host=t["host"]),
        healthy=healthy, cordoned=cordoned,
        price_per_hour=raw["price_per_hour_micros"] / 1_000_000)


def toleration_of(t: ev.workload.Toleration) -> pl.Toleration:
    """Returns the core's toleration: no value means "Exists" (any value of the key)."""
    effect = pl.TaintEffect(t.effect) if t.effect else None
    if t.value is None:
        return pl.Toleration(key=t.key, operator="Exists", effect=effect)
    return pl.Toleration(key=t.key, operator="Equal", value=t.value, effect=effect)


def pod_set_of(ps: ev.PodSet) -> pl.PodSet:
    """Returns the core's pod set: whole GPUs (gpu), or a share of one GPU (gpu_milli < 1000)."""
    r = ps.requests
    gpu_count, gpu_milli = gpu_request_of(r)
    topology = None
    if ps.topology is not None:
        topology = pl.TopologyRequest(_LEVELS[ps.topology.level], pl.TopologyMode(ps.topology.mode.value))
    return pl.PodSet(
        name=ps.name, count=ps.count, min_count=ps.min_count, cpu_milli=r.cpu_milli, memory_mib=r.memory_mib,
        gpu_count=gpu_count, gpu_milli=gpu_milli, gpu_models=pl.gpu_models_from_spec(ps.gpu_model),
        node_selector=dict(ps.node_selector), tolerations=tuple(toleration_of(t) for t in ps.tolerations),
        topology=topology)


def workload_of(reservation: ev.QuotaReserved) -> pl.Workload:
    """Returns the gang to place: every pod set, within the clusters and pools of its assigned flavor.

    The core narrows a whole workload to one set of clusters/pools; pod sets with different flavors get
    the union (quota assigns one flavor per workload today).
    """
    clusters: list[str] = []
    pools: list[str] = []
    for fa in reservation.flavors:
        clusters += [c for c in fa.clusters if c not in clusters]
        pools += [p for p in fa.pools if p not in pools]
    if any(not fa.clusters for fa in reservation.flavors):
        clusters = []  # one flavor allows any cluster: so does the union
    if any(not fa.pools for fa in reservation.flavors):
        pools = []
    return pl.Workload(id=reservation.workload_id, pod_sets=tuple(pod_set_of(p) for p in reservation.spec.pod_sets),
                       priority=reservation.priority, clusters=tuple(clusters), pools=tuple(pools))


def pod_index(pod_id: str) -> int:
    """Returns the index of a pod in its pod set from the core's ``<workload>/<pod set>/<index>`` id."""
    return int(pod_id.rsplit("/", 1)[1])


def assignments_of(result: pl.PlacementResult) -> tuple[ev.PodAssignment, ...]:
    """Returns one event assignment per placed pod, with the exact GPU indices it is bound to."""
    return tuple(ev.PodAssignment(pod_set=a.pod_set, index=pod_index(a.pod_id), node_id=a.node,
                                  gpus=tuple(g for g, _ in a.gpus)) for a in result.assignments)


def encode_pods(pods: Iterable[pl.BoundPod]) -> str:
    """Returns the stored JSON of bound pods: ``[[pod_id, node, cpu_milli, memory_mib, [[gpu, milli], ...]], ...]``."""
    return json.dumps([[p.pod_id, p.node, p.cpu_milli, p.memory_mib, [list(g) for g in p.gpus]] for p in pods],
                      separators=(",", ":"))


def decode_pods(workload_id: str, text: str, priority: int, started_at: float) -> list[pl.BoundPod]:
    """Returns the bound pods of one stored placement (the inverse of ``encode_pods``)."""
    bound = pl.BoundPod
    return [bound(pod_id, workload_id, node, cpu, mem, tuple(map(tuple, gpus)) if gpus else (), priority, started_at)
            for pod_id, node, cpu, mem, gpus in json.loads(text)]
