"""A cheap necessary check before calling the placement core for a waiting gang."""

from __future__ import annotations

from libs.placement import GPU_MILLI, Snapshot

from .trace import TraceJob


def may_fit(snap: Snapshot, job: TraceJob) -> bool:
    """Return False when the free whole GPUs alone rule the gang out; True means "ask ``place``".

    Not a placement decision: it only skips hopeless ``place`` calls (and their diagnosis)
    while reserved gangs wait for nodes. Shared-GPU and CPU-only pod sets always pass.
    """
    n = snap.size
    usable = snap.live[:n] & snap.healthy[:n] & ~snap.cordoned[:n]
    full = snap.gpu_full[:n][usable]
    for ps in job.pod_sets:
        if ps.gpus and ps.gpu_milli >= GPU_MILLI and int((full // ps.gpus).sum()) < ps.count:
            return False
    return True
