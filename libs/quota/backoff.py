"""Deterministic exponential backoff for requeued workloads (no jitter: the clock is given)."""

from __future__ import annotations


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Returns ``base * 2**(attempts-1)`` capped at ``cap``; 0 before the first eviction."""
    if attempts <= 0:
        return 0.0
    return min(cap, base * (2 ** min(attempts - 1, 62)))
