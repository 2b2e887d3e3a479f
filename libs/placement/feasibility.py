"""'Never fits': whether any node of a workload's flavor could hold one pod of each pod set even when empty.

Only then is the workload handed back to quota (reason ``never-fits``) to try another flavor. Health,
cordons and unreachable clusters are transient, so they are ignored here; usage too. While no node of the
flavor is known yet the answer is "wait", not "never", and that counts in the cluster a pod set is pinned to: a
flavor spanning aws and gcp whose gcp nodes are not inventoried yet must not hand a gcp-pinned job back to quota
because the aws nodes do not match its pin. It did, quota excluded the flavor, found no other, and the job waited
forever once the gcp nodes came (test_kube_demo_mix, a flake under load: the nodes' inventory raced the jobs).
"""

from __future__ import annotations

import numpy as np

from .filters import home_mask, static_checks, static_key
from .model import GPU_MILLI, PodSet, Workload
from .outcomes import Reason, node_phrase
from .snapshot import Snapshot

NEVER_FITS = "never-fits"  # the reason code of a hand-back to quota
_TRANSIENT = (Reason.CLUSTER_UNREACHABLE, Reason.NODE_UNHEALTHY, Reason.NODE_CORDONED)


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
    remaining = snap.live[: snap.size] & checks[0][1] & home_mask(snap, key)  # the flavor's nodes where it may go
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
            counts.append(f"{failed} {node_phrase(reason, key.gpu_models, ever=True)}")
    if remaining.any():
        return None
    detail = ", ".join(counts)
    return (f"pod set {ps.name}: none of the {total} nodes of its flavor could hold one pod even when empty "
            f"({detail})")
