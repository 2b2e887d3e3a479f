"""Equivalence-class score cache: one score array per (static key, pod shape, scorer).

Pods with the same static key and shape see the same feasible nodes and scores, so the array
is kept and only the slots whose usage changed since the last use (``Snapshot.dirty``) are
recomputed. Infeasible nodes score ``-inf``.
"""

from __future__ import annotations

import numpy as np

from .filters import Shape, StaticKey, fits, static_mask
from .model import GPU_MILLI
from .scoring import Scorer
from .snapshot import Snapshot

_MAX_ENTRIES = 4096


class _Entry:
    __slots__ = ("scores", "static_epoch", "dyn_epoch", "pos")

    def __init__(self, scores: np.ndarray, static_epoch: int, dyn_epoch: int, pos: int) -> None:
        self.scores = scores  # score per slot, -inf where infeasible
        self.static_epoch = static_epoch  # snapshot static epoch the array is valid for
        self.dyn_epoch = dyn_epoch  # snapshot dirty-log epoch the position refers to
        self.pos = pos  # position in the dirty log already folded into ``scores``


def _compute(snap: Snapshot, key: StaticKey, shape: Shape, scorer: Scorer, idx: np.ndarray) -> np.ndarray:
    ok = static_mask(snap, key)[idx] & fits(snap, shape, idx)
    out = np.full(len(idx), -np.inf)
    if ok.any():
        good = idx[ok]
        out[ok] = scorer(snap, shape, good)
    return out


def scores_for(snap: Snapshot, key: StaticKey, shape: Shape, scorer: Scorer) -> np.ndarray:
    """Return the up-to-date score of one pod of ``shape`` on every slot (-inf = infeasible).

    The returned array is owned by the cache: read it, don't modify it.
    """
    memo = snap.memo.setdefault("scores", {})
    ck = (key, shape, scorer.key)
    entry = memo.get(ck)
    dirty = snap.dirty
    if (entry is None or entry.static_epoch != snap.static_epoch or entry.dyn_epoch != snap.dyn_epoch
            or len(dirty) - entry.pos > max(snap.size // 8, 16)):
        if len(memo) >= _MAX_ENTRIES:
            memo.clear()
        idx = np.arange(snap.size)
        entry = _Entry(_compute(snap, key, shape, scorer, idx), snap.static_epoch, snap.dyn_epoch, len(dirty))
        memo[ck] = entry
        return entry.scores
    if len(dirty) > entry.pos:
        changed = dirty[entry.pos:]
        idx = np.array(changed[0:1] if len(changed) == 1 else sorted(set(changed)), np.int64)
        entry.scores[idx] = _compute(snap, key, shape, scorer, idx)
        entry.pos = len(dirty)
    return entry.scores


def capacity_copies(snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
    """Return how many pods of ``shape`` each node of ``idx`` could still take (resources only)."""
    big = np.iinfo(np.int64).max // 4
    cpu = (snap.cpu_cap[idx] - snap.cpu_used[idx]) // shape.cpu_milli if shape.cpu_milli else big
    mem = (snap.mem_cap[idx] - snap.mem_used[idx]) // shape.memory_mib if shape.memory_mib else big
    copies = np.minimum(cpu, mem) * np.ones(len(idx), np.int64)
    if shape.gpu_count:
        if shape.gpu_milli >= GPU_MILLI:
            gpu = snap.gpu_full[idx] // shape.gpu_count
        else:
            gpu = (snap.gpu_left[idx] // shape.gpu_milli).sum(axis=1)
        copies = np.minimum(copies, gpu)
    return np.maximum(copies, 0)
