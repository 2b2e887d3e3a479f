"""'Never fits': whether the nodes of a workload's flavor could hold each pod set even when empty.

A pod set never fits when no node of the flavor could hold one of its pods, or when all of them together
could not hold the pods it needs (``min_count`` for an elastic pod set, else ``count``), or, with a required
topology, when no single domain at that level could. Only then is the workload handed back to quota (reason
``never-fits``) to try another flavor. Health and cordons are transient, so they are ignored here; usage too.
While no node of the flavor is known yet the answer is "wait", not "never". Pod sets are checked one at a
time: a gang whose pod sets only fit separately still waits.
"""

from __future__ import annotations

import numpy as np

from libs.placement import GPU_MILLI, PodSet, Reason, Snapshot, Workload
from libs.placement.filters import static_checks, static_key
from libs.placement.model import TopologyMode

NEVER_FITS = "never-fits"
_TRANSIENT = (Reason.NODE_UNHEALTHY, Reason.NODE_CORDONED)
_PHRASES = {Reason.UNTOLERATED_TAINT: "have an untolerated taint",
            Reason.NODE_SELECTOR_MISMATCH: "don't match the node selector",
            Reason.NODE_AFFINITY_MISMATCH: "don't match the required node affinity",
            Reason.GPU_MODEL_MISMATCH: "lack GPU model {models}",
            Reason.INSUFFICIENT_CPU: "have too little CPU", Reason.INSUFFICIENT_MEMORY: "have too little memory",
            Reason.INSUFFICIENT_GPU: "have too few GPUs"}


def never_fits(snapshot: Snapshot, workload: Workload) -> str | None:
    """Returns why no node of the flavor could ever hold a pod of some pod set; None if one could (or none known)."""
    for pod_set in workload.pod_sets:
        message = _pod_set_never_fits(snapshot, workload, pod_set)
        if message is not None:
            return message
    return None


def _capacity_checks(snap: Snapshot, ps: PodSet) -> list[tuple[Reason, np.ndarray]]:
    n = snap.size
    gpus = ps.gpu_count if ps.gpu_milli >= GPU_MILLI else min(ps.gpu_count, 1)
    return [(Reason.INSUFFICIENT_CPU, snap.cpu_cap[:n] >= ps.cpu_milli),
            (Reason.INSUFFICIENT_MEMORY, snap.mem_cap[:n] >= ps.memory_mib),
            (Reason.INSUFFICIENT_GPU, snap.gpu_cnt[:n] >= gpus)]


def _pod_set_never_fits(snap: Snapshot, workload: Workload, ps: PodSet) -> str | None:
    key = static_key(workload, ps)
    checks = static_checks(snap, key)
    remaining = snap.live[: snap.size] & checks[0][1]  # the flavor's clusters and pools
    total = int(remaining.sum())
    if total == 0:
        return None
    counts = []
    for reason, passed in checks[1:] + _capacity_checks(snap, ps):
        if reason in _TRANSIENT:
            continue
        failed = int((remaining & ~passed).sum())
        remaining &= passed
        if failed:
            counts.append(f"{failed} " + _PHRASES[reason].format(models="|".join(key.gpu_models)))
    if remaining.any():
        return _gang_never_fits(snap, ps, np.flatnonzero(remaining))
    detail = ", ".join(counts)
    return (f"pod set {ps.name}: none of the {total} nodes of its flavor could hold one pod even when empty "
            f"({detail})")


def _empty_copies(snap: Snapshot, ps: PodSet, slots: np.ndarray) -> np.ndarray:
    """Returns how many pods of ``ps`` each node could hold when empty (by its capacity alone)."""
    big = np.iinfo(np.int64).max // 4
    copies = np.full(len(slots), big, np.int64)
    if ps.cpu_milli:
        copies = np.minimum(copies, snap.cpu_cap[slots] // ps.cpu_milli)
    if ps.memory_mib:
        copies = np.minimum(copies, snap.mem_cap[slots] // ps.memory_mib)
    if ps.gpu_count:
        gpus = snap.gpu_cnt[slots]
        shared = ps.gpu_milli < GPU_MILLI  # a share of one GPU: several pods per GPU
        copies = np.minimum(copies, gpus * (GPU_MILLI // ps.gpu_milli) if shared else gpus // ps.gpu_count)
    return copies


def _gang_never_fits(snap: Snapshot, ps: PodSet, slots: np.ndarray) -> str | None:
    """Returns why the nodes that could each hold a pod could not hold the pods ``ps`` needs even when empty."""
    need = ps.min_count or ps.count
    copies = _empty_copies(snap, ps, slots)
    if ps.topology is not None and ps.topology.mode == TopologyMode.REQUIRED:
        level = ps.topology.level
        largest = int(np.bincount(snap.domain[int(level), slots], weights=copies).max(initial=0))
        if largest < need:
            return (f"pod set {ps.name}: no {level.name.lower()} of its flavor could hold {need} pods even when "
                    f"empty (the largest could hold {largest})")
        return None
    room = int(copies.sum())
    if room < need:
        return (f"pod set {ps.name}: the {len(slots)} nodes of its flavor that fit a pod could hold {room} of its "
                f"{need} pods even when empty")
    return None
