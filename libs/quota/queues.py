"""Phase 1, heads: the pending workloads of one cluster queue, in Kueue's order.

Order is priority (high first), then creation time (eviction time after a PodsReadyTimeout
eviction, with ``requeuingStrategy.timestamp: Eviction``), then id. Three places hold a pending
workload: the *active* heap (eligible now), *parked* (in backoff until ``requeue_at``) and,
for BestEffortFIFO, *inadmissible* (stepped aside until quota frees in the cohort).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

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
    queued_at: float | None = None  # queue-order time if not its creation (evicted by PodsReadyTimeout)

    def key(self) -> tuple[int, float, str]:
        """Returns the queue-order key: priority desc, then creation (or, after a PodsReadyTimeout
        eviction, eviction) time asc, then id (Kueue's GetQueueOrderTimestamp)."""
        at = self.workload.created_at if self.queued_at is None else self.queued_at
        return (-self.workload.priority, at, self.workload.id)

    @property
    def local_queue(self) -> tuple[str, str]:
        return (self.workload.namespace, self.workload.queue_name)


LocalQueueUsage = Callable[[tuple[str, str]], float]  # (namespace, name) → weighted usage


class PendingQueue:
    """One cluster queue's pending workloads.

    With admission fair sharing (``lq_usage``), each local queue keeps its own order and the
    head is the first workload of the local queue that used least (Kueue's UsageBasedAdmissionFairSharing).
    """

    def __init__(self, name: str, strategy: QueueingStrategy, lq_usage: LocalQueueUsage | None = None):
        self.name = name  # cluster queue name
        self.strategy = strategy  # StrictFIFO or BestEffortFIFO
        self.lq_usage = lq_usage  # admission fair sharing; None orders the whole queue by priority
        self.entries: dict[str, PendingEntry] = {}  # every pending workload, by id
        self._heaps: dict[tuple[str, str] | None, list] = {}  # local queue (or None) → heap; may hold stale ids
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
            self._activate(entry)

    def _activate(self, entry: PendingEntry) -> None:
        lq = entry.local_queue if self.lq_usage is not None else None
        heapq.heappush(self._heaps.setdefault(lq, []), (entry.key(), entry.workload.id))

    def remove(self, workload_id: str) -> PendingEntry | None:
        """Removes a workload (admitted or deleted); heaps are cleaned lazily."""
        self.inadmissible.discard(workload_id)
        return self.entries.pop(workload_id, None)

    def _is_active(self, item: tuple[tuple[int, float, str], str], now: float) -> bool:
        """Whether a heap item is live: its workload still waits here, eligible now, under the key it was pushed
        with (a priority change pushes it again under its new key; the old item is stale)."""
        key, workload_id = item
        entry = self.entries.get(workload_id)
        return entry is not None and workload_id not in self.inadmissible and entry.requeue_at <= now \
            and entry.key() == key

    def head(self, now: float) -> PendingEntry | None:
        """Returns the first eligible workload, promoting parked ones whose backoff ended."""
        while self._parked and self._parked[0][0] <= now:
            _, wid = heapq.heappop(self._parked)
            if wid in self.entries and self.entries[wid].requeue_at <= now:
                self._activate(self.entries[wid])
        best, best_key = None, None
        for lq, heap in self._heaps.items():
            while heap and not self._is_active(heap[0], now):
                heapq.heappop(heap)
            if heap:
                key = (self.lq_usage(lq) if lq is not None else 0.0, heap[0][0])
                if best_key is None or key < best_key:
                    best, best_key = self.entries[heap[0][1]], key
        return best

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
        if self.lq_usage is None:
            return sorted(self.entries.values(), key=PendingEntry.key)
        usage = {lq: self.lq_usage(lq) for lq in {e.local_queue for e in self.entries.values()}}
        return sorted(self.entries.values(), key=lambda e: (usage[e.local_queue], e.key()))

    def next_wakeup(self) -> float | None:
        """Returns the earliest backoff expiry, if any workload is parked."""
        live = [t for t, wid in self._parked if wid in self.entries]
        return min(live) if live else None
