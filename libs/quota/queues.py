"""Phase 1, heads: the pending workloads of one cluster queue, in Kueue's order.

Order is priority (high first), then creation time, then id. Three places hold a pending
workload: the *active* heap (eligible now), *parked* (in backoff until ``requeue_at``) and,
for BestEffortFIFO, *inadmissible* (stepped aside until quota frees in the cohort).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from libs.quota.config import QueueingStrategy
from libs.quota.outcome import Why
from libs.quota.workload import Workload


@dataclass(slots=True)
class PendingEntry:
    """A workload waiting for quota, with its retry state and the latest reason."""

    workload: Workload
    cluster_queue: str
    requeue_at: float = 0.0  # not a head before this time (backoff)
    attempts: int = 0  # evictions so far; drives exponential backoff
    why: Why | None = None  # why it waited in the last cycle that looked at it

    def key(self) -> tuple[int, float, str]:
        """Returns the queue-order key: priority desc, creation asc, id."""
        return (-self.workload.priority, self.workload.created_at, self.workload.id)


class PendingQueue:
    """One cluster queue's pending workloads."""

    def __init__(self, name: str, strategy: QueueingStrategy):
        self.name = name  # cluster queue name
        self.strategy = strategy  # StrictFIFO or BestEffortFIFO
        self.entries: dict[str, PendingEntry] = {}  # every pending workload, by id
        self._active: list[tuple[tuple[int, float, str], str]] = []  # heap; may hold stale ids
        self._parked: list[tuple[float, str]] = []  # heap of (requeue_at, id); may hold stale ids
        self.inadmissible: set[str] = set()  # BestEffortFIFO heads that did not fit

    def __len__(self) -> int:
        return len(self.entries)

    def push(self, entry: PendingEntry, now: float) -> None:
        """Adds or replaces a pending workload."""
        self.entries[entry.workload.id] = entry
        self.inadmissible.discard(entry.workload.id)
        if entry.requeue_at > now:
            heapq.heappush(self._parked, (entry.requeue_at, entry.workload.id))
        else:
            heapq.heappush(self._active, (entry.key(), entry.workload.id))

    def remove(self, workload_id: str) -> PendingEntry | None:
        """Removes a workload (admitted or deleted); heaps are cleaned lazily."""
        self.inadmissible.discard(workload_id)
        return self.entries.pop(workload_id, None)

    def _is_active(self, workload_id: str, now: float) -> bool:
        entry = self.entries.get(workload_id)
        return entry is not None and workload_id not in self.inadmissible and entry.requeue_at <= now

    def head(self, now: float) -> PendingEntry | None:
        """Returns the first eligible workload, promoting parked ones whose backoff ended."""
        while self._parked and self._parked[0][0] <= now:
            _, wid = heapq.heappop(self._parked)
            if wid in self.entries and self.entries[wid].requeue_at <= now:
                heapq.heappush(self._active, (self.entries[wid].key(), wid))
        while self._active:
            wid = self._active[0][1]
            if self._is_active(wid, now):
                return self.entries[wid]
            heapq.heappop(self._active)
        return None

    def step_aside(self, workload_id: str, why: Why) -> None:
        """Records why the head waits; BestEffortFIFO lets the next workload be the head."""
        entry = self.entries.get(workload_id)
        if entry is None:
            return
        entry.why = why
        if self.strategy is QueueingStrategy.BEST_EFFORT_FIFO:
            self.inadmissible.add(workload_id)

    def requeue_inadmissible(self, now: float) -> int:
        """Moves every inadmissible workload back to the active heap; returns how many."""
        moved = [wid for wid in self.inadmissible if wid in self.entries]
        self.inadmissible.clear()
        for wid in moved:
            self.push(self.entries[wid], now)
        return len(moved)

    def ordered(self) -> list[PendingEntry]:
        """Returns every pending workload in queue order (for positions and visibility)."""
        return sorted(self.entries.values(), key=PendingEntry.key)

    def next_wakeup(self) -> float | None:
        """Returns the earliest backoff expiry, if any workload is parked."""
        live = [t for t, wid in self._parked if wid in self.entries]
        return min(live) if live else None
