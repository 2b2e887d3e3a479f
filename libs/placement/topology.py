"""Topology-aware choice of nodes for a pod set: the tightest domain that fits all its pods.

Like Kueue TAS: try hosts, then racks, ... up to the requested level, and take the domain with
the least spare capacity that still fits (best fit). A required request fails beyond its level;
a preferred one spills to wider levels, and finally to the fewest largest domains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import TopologyLevel, TopologyMode, TopologyRequest
from .snapshot import Snapshot


@dataclass(frozen=True)
class DomainChoice:
    """The nodes a pod set may use, or why no domain fits."""

    slots: np.ndarray | None  # candidate slots inside the chosen domain(s); None = no fit
    level: TopologyLevel | None = None  # level of the chosen single domain (None when spilled)
    want: int = 0  # pods to place there (may be below count for elastic pod sets)
    message: str = ""  # why nothing fits, when slots is None


def _level_capacity(snap: Snapshot, level: TopologyLevel, cand: np.ndarray, copies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dom = snap.domain[int(level), cand]
    cap = np.bincount(dom, weights=copies).astype(np.int64)
    return dom, cap


def _tightest(cap: np.ndarray, want: int) -> int | None:
    ok = np.flatnonzero(cap >= want)
    if ok.size == 0:
        return None
    return int(ok[np.argmin(cap[ok])])


def choose_domain(snap: Snapshot, request: TopologyRequest, cand: np.ndarray, copies: np.ndarray,
                  want: int, need: int) -> DomainChoice:
    """Return the slots of the tightest domain holding ``want`` pods (or at least ``need``).

    ``cand`` are feasible slots in slot order and ``copies`` how many pods each can take.
    """
    top = int(request.level)
    best_cap = 0
    for level in TopologyLevel:
        if level > top and request.mode == TopologyMode.REQUIRED:
            break
        dom, cap = _level_capacity(snap, level, cand, copies)
        d = _tightest(cap, want)
        if d is not None:
            return DomainChoice(cand[dom == d], level, want)
        if level == top:
            best_cap = int(cap.max(initial=0))
    if request.mode == TopologyMode.REQUIRED:
        if best_cap >= need:  # elastic pod set: take the largest domain at the level
            dom, cap = _level_capacity(snap, request.level, cand, copies)
            d = int(np.argmax(cap))
            return DomainChoice(cand[dom == d], request.level, best_cap)
        name = request.level.name.lower()
        return DomainChoice(None, message=f"no {name} has room for {need} pods (largest fits {best_cap})")
    return _spill(snap, request.level, cand, copies, want, need)


def _spill(snap: Snapshot, level: TopologyLevel, cand: np.ndarray, copies: np.ndarray,
           want: int, need: int) -> DomainChoice:
    """Preferred topology that no single domain satisfies: use the fewest, largest domains."""
    dom, cap = _level_capacity(snap, level, cand, copies)
    order = np.argsort(-cap, kind="stable")
    total = np.cumsum(cap[order])
    reachable = int(total[-1]) if total.size else 0
    if reachable < need:
        return DomainChoice(None, message=f"only {reachable} of {need} pods fit in the whole fleet")
    want = min(want, reachable)
    chosen = order[: int(np.searchsorted(total, want)) + 1]
    return DomainChoice(cand[np.isin(dom, chosen)], None, want)
