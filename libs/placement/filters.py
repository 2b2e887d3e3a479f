"""Filters: which nodes may host a pod, as vectorised masks, and why the others may not.

Static filters (flavor cluster/pool, cluster reachability, health, cordon, taints, selector, affinity, GPU model)
depend only on node specs and are cached per ``static_epoch``. Resource filters depend on usage.
Each rejected node is counted once, under the first filter it fails, in the order below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import CLUSTER_LABEL, GPU_MILLI, AffinityOperator, NodeSelectorRequirement, PodSet, Toleration, Workload
from .outcomes import NodeDiagnosis, Reason
from .snapshot import Snapshot


@dataclass(frozen=True)
class StaticKey:
    """Everything static filters look at; pods with equal keys share one cached mask."""

    clusters: tuple[str, ...]
    pools: tuple[str, ...]
    tolerations: tuple[Toleration, ...]
    selector: tuple[tuple[str, str], ...]
    affinity: tuple[NodeSelectorRequirement, ...]
    gpu_models: tuple[str, ...]


@dataclass(frozen=True)
class Shape:
    """The resource request of one pod: its equivalence class for fit and score caches."""

    cpu_milli: int
    memory_mib: int
    gpu_count: int
    gpu_milli: int


def static_key(workload: Workload, pod_set: PodSet, clusters: tuple[str, ...] | None = None) -> StaticKey:
    """Return the static filter key of a pod set (``clusters`` overrides the flavor's clusters)."""
    return StaticKey(
        clusters=workload.clusters if clusters is None else clusters,
        pools=workload.pools,
        tolerations=pod_set.tolerations,
        selector=tuple(sorted(pod_set.node_selector.items())),
        affinity=pod_set.affinity,
        gpu_models=pod_set.gpu_models if pod_set.gpu_count else (),
    )


def shape_of(pod_set: PodSet) -> Shape:
    """Return the resource shape of one pod of ``pod_set``."""
    milli = pod_set.gpu_milli if pod_set.gpu_count else 0
    return Shape(pod_set.cpu_milli, pod_set.memory_mib, pod_set.gpu_count, milli)


def _in(snap: Snapshot, kind: str, column: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    ids = [snap.lookup(kind, n) for n in names]
    return np.isin(column, ids)


def home_mask(snap: Snapshot, key: StaticKey) -> np.ndarray:
    """Return the slots of the cluster a pod set is pinned to by a node selector on ``CLUSTER_LABEL`` (the
    Kubernetes connector pins every object to the cluster it lives in), by the node's own cluster; all slots when
    it is not pinned."""
    homes = tuple(value for label, value in key.selector if label == CLUSTER_LABEL)
    n = snap.size
    return _in(snap, "cluster", snap.cluster[:n], homes) if homes else np.ones(n, bool)


def _affinity_ok(snap: Snapshot, req: NodeSelectorRequirement) -> np.ndarray:
    col = snap.label_column(req.key)
    if req.operator == AffinityOperator.EXISTS:
        return col >= 0
    if req.operator == AffinityOperator.DOES_NOT_EXIST:
        return col < 0
    hit = _in(snap, "value", col, req.values)
    return hit if req.operator == AffinityOperator.IN else ~hit


def _taints_ok(snap: Snapshot, tolerations: tuple[Toleration, ...]) -> np.ndarray:
    ok_sets = np.array([all(any(t.tolerates(taint) for t in tolerations) for taint in taints)
                        for taints in snap.taintsets], bool)
    return ok_sets[snap.taintset[: snap.size]]


def static_checks(snap: Snapshot, key: StaticKey) -> list[tuple[Reason, np.ndarray]]:
    """Return each static filter's pass mask over slots, in attribution order."""
    n = snap.size
    true = np.ones(n, bool)
    where = true.copy()
    if key.clusters:
        where &= _in(snap, "cluster", snap.cluster[:n], key.clusters)
    if key.pools:
        where &= _in(snap, "pool", snap.pool[:n], key.pools)
    selector = true.copy()
    for label, value in key.selector:
        selector &= snap.label_column(label) == snap.lookup("value", value)
    affinity = true.copy()
    for req in key.affinity:
        affinity &= _affinity_ok(snap, req)
    models = _in(snap, "model", snap.model[:n], key.gpu_models) if key.gpu_models else true
    reachable = ~_in(snap, "cluster", snap.cluster[:n], tuple(snap.unreachable)) if snap.unreachable else true
    return [
        (Reason.CLUSTER_MISMATCH, where),
        (Reason.CLUSTER_UNREACHABLE, reachable),
        (Reason.NODE_UNHEALTHY, snap.healthy[:n]),
        (Reason.NODE_CORDONED, ~snap.cordoned[:n]),
        (Reason.UNTOLERATED_TAINT, _taints_ok(snap, key.tolerations)),
        (Reason.NODE_SELECTOR_MISMATCH, selector),
        (Reason.NODE_AFFINITY_MISMATCH, affinity),
        (Reason.GPU_MODEL_MISMATCH, models),
    ]


def static_mask(snap: Snapshot, key: StaticKey) -> np.ndarray:
    """Return (cached per static epoch) the slots passing every static filter."""
    memo = snap.memo.setdefault("static", {})
    hit = memo.get(key)
    if hit is not None and hit[0] == snap.static_epoch:
        return hit[1]
    ok = snap.live[: snap.size].copy()
    for _, passed in static_checks(snap, key):
        ok &= passed
    if len(memo) >= 4096:
        memo.clear()
    memo[key] = (snap.static_epoch, ok)
    return ok


def resource_checks(snap: Snapshot, shape: Shape, slots: np.ndarray | slice) -> list[tuple[Reason, np.ndarray]]:
    """Return the CPU, memory and GPU pass masks of ``shape`` over ``slots``."""
    cpu_ok = snap.cpu_cap[slots] - snap.cpu_used[slots] >= shape.cpu_milli
    mem_ok = snap.mem_cap[slots] - snap.mem_used[slots] >= shape.memory_mib
    if shape.gpu_count == 0:
        gpu_ok = np.ones_like(cpu_ok)
    elif shape.gpu_milli >= GPU_MILLI:
        gpu_ok = snap.gpu_full[slots] >= shape.gpu_count
    else:
        gpu_ok = snap.gpu_maxleft[slots] >= shape.gpu_milli
    return [(Reason.INSUFFICIENT_CPU, cpu_ok), (Reason.INSUFFICIENT_MEMORY, mem_ok),
            (Reason.INSUFFICIENT_GPU, gpu_ok)]


def fits(snap: Snapshot, shape: Shape, slots: np.ndarray | slice) -> np.ndarray:
    """Return whether one pod of ``shape`` fits the free resources of each of ``slots``."""
    (_, a), (_, b), (_, c) = resource_checks(snap, shape, slots)
    return a & b & c


def diagnose(snap: Snapshot, key: StaticKey, shape: Shape, within: np.ndarray | None = None) -> NodeDiagnosis:
    """Return per-reason counts of why no node (of ``within``, if given) accepts one pod."""
    n = snap.size
    remaining = snap.live[:n].copy() if within is None else snap.live[:n] & within
    total = int(remaining.sum())
    counts = []
    for reason, passed in static_checks(snap, key) + resource_checks(snap, shape, slice(0, n)):
        failed = remaining & ~passed
        counts.append((reason, int(failed.sum())))
        remaining &= passed
    return NodeDiagnosis(total=total, counts=tuple(counts), gpu_models=key.gpu_models)
