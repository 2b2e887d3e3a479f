"""How much room for the preemptor's pods evicting one victim would make, node by node."""

from __future__ import annotations

import numpy as np

from .equivalence import capacity_copies
from .filters import Shape
from .model import GPU_MILLI, Victim
from .snapshot import Snapshot


class GainModel:
    """Fractional pods of ``shape`` each eligible node can take now, and would take without a victim."""

    def __init__(self, snap: Snapshot, shape: Shape, eligible: np.ndarray, need: int) -> None:
        self.snap = snap  # the trial snapshot victims are evicted from
        self.shape = shape  # the preemptor's largest pod shape
        self.eligible = eligible  # slots the preemptor may use
        self.need = need  # pods the preemptor must place
        idx = np.arange(snap.size)
        self.ceiling = np.minimum(self._frac(snap.cpu_cap[idx], snap.mem_cap[idx],
                                             snap.gpu_cnt[idx] * GPU_MILLI), need)  # empty-node pods
        self.now = np.zeros(snap.size)  # fractional pods per slot, current state
        self.exact = np.zeros(snap.size, np.int64)  # whole pods per slot, current state
        self.refresh(np.flatnonzero(eligible))

    def _frac(self, cpu: np.ndarray, mem: np.ndarray, gpu_milli: np.ndarray) -> np.ndarray:
        s = self.shape
        out = np.full(np.shape(cpu), float(self.need))
        if s.cpu_milli:
            out = np.minimum(out, cpu / s.cpu_milli)
        if s.memory_mib:
            out = np.minimum(out, mem / s.memory_mib)
        if s.gpu_count:
            out = np.minimum(out, gpu_milli / (s.gpu_count * s.gpu_milli))
        return out

    def refresh(self, slots) -> None:
        """Recompute the current room of ``slots`` after evictions."""
        idx = np.array(sorted(slots), np.int64)
        idx = idx[self.eligible[idx]]
        snap = self.snap
        free_gpu = snap.gpu_left[idx].sum(axis=1)
        self.now[idx] = np.minimum(self._frac(snap.cpu_cap[idx] - snap.cpu_used[idx],
                                              snap.mem_cap[idx] - snap.mem_used[idx], free_gpu),
                                   self.ceiling[idx])
        self.exact[idx] = np.minimum(capacity_copies(snap, self.shape, idx), self.need)

    def enough(self) -> bool:
        """Return whether the eligible nodes could hold all pods (necessary, not sufficient)."""
        return int(self.exact[self.eligible].sum()) >= self.need

    def gains(self, victims: list[Victim]) -> np.ndarray:
        """Return ``gain`` of every victim at once (vectorised over victim-node pairs)."""
        snap, freed = self.snap, {}
        for i, v in enumerate(victims):
            for pod_id in v.pods:
                slot, pod = snap.pods[pod_id]
                if self.eligible[slot]:
                    c, m, g = freed.get((i, slot), (0, 0, 0))
                    freed[(i, slot)] = (c + pod.cpu_milli, m + pod.memory_mib, g + sum(x for _, x in pod.gpus))
        if not freed:
            return np.zeros(len(victims))
        keys = np.array(list(freed), np.int64)
        vals = np.array(list(freed.values()), np.int64)
        owner, slots = keys[:, 0], keys[:, 1]
        after = self._frac(snap.cpu_cap[slots] - snap.cpu_used[slots] + vals[:, 0],
                           snap.mem_cap[slots] - snap.mem_used[slots] + vals[:, 1],
                           snap.gpu_left[slots].sum(axis=1) + vals[:, 2])
        delta = np.minimum(after, self.ceiling[slots]) - self.now[slots]
        return np.bincount(owner, weights=delta, minlength=len(victims))

    def gain(self, victim: Victim) -> float:
        """Return the fractional pods evicting ``victim`` would add on eligible nodes."""
        return float(self.gains([victim])[0])
