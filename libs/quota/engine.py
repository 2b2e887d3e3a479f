"""The incremental quota state a service keeps: reservations, pending queues, config.

``QuotaEngine`` is in-memory and pure (no I/O, the clock is an argument). A service feeds it
events (``add_workload``, ``finish``, ``evict``, ``mark_placed``, ``apply_config``), calls
``run_cycle(now)`` and publishes the returned ``CycleResult``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from libs.quota.afs import AdmissionUsage
from libs.quota.backoff import backoff_seconds
from libs.quota.config import QuotaConfig
from libs.quota.cycle import CycleResult, Snapshot, schedule
from libs.quota.explain import describe_position
from libs.quota.outcome import Reason, Why
from libs.quota.queues import PendingEntry, PendingQueue
from libs.quota.tree import QuotaTree
from libs.quota.workload import Reservation, Workload


class QuotaError(ValueError):
    """Raised on an operation that contradicts the engine's state (e.g. double reservation)."""


@dataclass(frozen=True, slots=True)
class PendingInfo:
    """Visibility for one pending workload: where it stands and why it waits."""

    workload_id: str
    cluster_queue: str | None
    position: int  # 1-based position in its cluster queue; 0 when not routed to one
    reason: Reason
    message: str


class QuotaEngine:
    """Reservations and pending workloads under one quota configuration."""

    def __init__(self, config: QuotaConfig):
        self.config = config  # the configuration in force
        self.tree = QuotaTree(config)  # quota and usage per cohort and cluster queue
        self.reservations: dict[str, Reservation] = {}  # workload id → quota held
        self.admitted: dict[str, dict[str, Reservation]] = {}  # cluster queue → id → reservation
        self.pending: dict[str, PendingQueue] = {}  # cluster queue → its pending workloads
        self.unrouted: dict[str, PendingEntry] = {}  # local queue (or cluster queue) missing
        self.evicting: set[str] = set()  # reservations asked to leave, not yet evicted
        self.attempts: dict[str, int] = {}  # workload id → evictions so far (backoff)
        self._dirty_roots: set[str] = set()  # trees where quota freed since the last cycle
        self._pending_at: dict[str, str] = {}  # pending workload id → cluster queue ("" unrouted)
        self.afs: AdmissionUsage | None = None  # admission fair sharing history (None: disabled)
        self._set_afs(config)
        self._make_queues(now=0.0)

    def _set_afs(self, config: QuotaConfig) -> None:
        """Keeps the local queues' usage history across reloads; drops it when AFS is turned off."""
        settings = config.admission_fair_sharing
        if settings is None:
            self.afs = None
        elif self.afs is None:
            self.afs = AdmissionUsage(settings)
        else:
            self.afs.settings = settings

    def local_queue_usage(self, lq: tuple[str, str]) -> float:
        """Returns a local queue's weighted usage for admission fair sharing (0 when disabled)."""
        return 0.0 if self.afs is None else self.afs.usage(lq, self.config)

    def _afs_queue(self, cluster_queue: str) -> bool:
        spec = self.config.cluster_queues.get(cluster_queue)
        return self.afs is not None and spec is not None and spec.admission_fair_sharing

    def _make_queues(self, now: float) -> None:
        old, self.pending = self.pending, {}
        for spec in self.config.cluster_queues.values():
            usage = self.local_queue_usage if self._afs_queue(spec.name) else None
            self.pending[spec.name] = PendingQueue(spec.name, spec.queueing_strategy, usage)
        for queue in old.values():
            for entry in queue.entries.values():
                self._route(entry, now)

    def _route(self, entry: PendingEntry, now: float) -> Why:
        lq = self.config.local_queues.get((entry.workload.namespace, entry.workload.queue_name))
        target = lq.cluster_queue if lq is not None else None
        if target is None or target not in self.pending:
            code = Reason.LOCAL_QUEUE_NOT_FOUND if lq is None else Reason.CLUSTER_QUEUE_NOT_FOUND
            where = f"{entry.workload.namespace}/{entry.workload.queue_name}"
            entry.why = Why(code, f"local queue {where} does not exist" if lq is None
                            else f"local queue {where} points at missing cluster queue {target}")
            self.unrouted[entry.workload.id] = entry
            self._pending_at[entry.workload.id] = ""
            return entry.why
        entry.cluster_queue = target
        self.pending[target].push(entry, now)
        self._pending_at[entry.workload.id] = target
        return Why(Reason.QUEUED, f"queued in {target}")

    # -- incremental operations -----------------------------------------------------------------

    def add_workload(self, workload: Workload, now: float) -> Why:
        """Queues a new workload; idempotent for a workload already known."""
        known = self.where(workload.id)
        if known is not None:
            return Why(Reason.QUEUED, f"already known ({known})")
        return self._route(PendingEntry(workload, ""), now)

    def pending_entry(self, workload_id: str) -> PendingEntry | None:
        """Returns the pending entry of a workload, routed or not, or None if it is not pending."""
        cq = self._pending_at.get(workload_id)
        if cq is None:
            return None
        return self.pending[cq].entries.get(workload_id) if cq else self.unrouted.get(workload_id)

    def where(self, workload_id: str) -> str | None:
        """Returns "reserved", "pending" or None for an unknown workload."""
        if workload_id in self.reservations:
            return "reserved"
        if workload_id in self._pending_at:
            return "pending"
        return None

    def reserve(self, workload: Workload, admission, now: float) -> Reservation:
        """Records a reservation (from a cycle or a replayed event); raises on a second one."""
        if workload.id in self.reservations:
            raise QuotaError(f"workload {workload.id} already holds a reservation")
        self._drop_pending(workload.id)
        reservation = Reservation(workload, admission, reserved_at=now)
        self.reservations[workload.id] = reservation
        self.admitted.setdefault(admission.cluster_queue, {})[workload.id] = reservation
        if admission.cluster_queue in self.tree.queues:
            self.tree.add_usage(self.tree.queues[admission.cluster_queue], admission.usage())
        return reservation

    def _drop_pending(self, workload_id: str) -> PendingEntry | None:
        cq = self._pending_at.pop(workload_id, None)
        if cq:
            return self.pending[cq].remove(workload_id)
        return self.unrouted.pop(workload_id, None)

    def _release(self, workload_id: str) -> Reservation | None:
        reservation = self.reservations.pop(workload_id, None)
        if reservation is None:
            return None
        cq = reservation.admission.cluster_queue
        self.admitted.get(cq, {}).pop(workload_id, None)
        self.evicting.discard(workload_id)
        if cq in self.tree.queues:
            node = self.tree.queues[cq]
            self.tree.remove_usage(node, reservation.admission.usage())
            self._dirty_roots.add(node.root().name)
        return reservation

    def finish(self, workload_id: str) -> bool:
        """Releases the quota of a finished (or deleted) workload; True if it held any."""
        self.attempts.pop(workload_id, None)
        dropped = self._drop_pending(workload_id) is not None
        return self._release(workload_id) is not None or dropped

    def evict(self, workload_id: str, why: Why, now: float) -> float | None:
        """Releases the quota and requeues the workload with backoff; returns its requeue time."""
        reservation = self._release(workload_id)
        if reservation is None:
            return None
        attempts = self.attempts.get(workload_id, 0) + 1
        self.attempts[workload_id] = attempts
        t = self.config.timing
        requeue_at = now + backoff_seconds(attempts, t.backoff_base_seconds, t.backoff_max_seconds)
        by_eviction = why.reason is Reason.PODS_READY_TIMEOUT and t.order_by_eviction
        entry = PendingEntry(reservation.workload, "", requeue_at=requeue_at, attempts=attempts, why=why,
                             queued_at=now if by_eviction else None)
        self._route(entry, now)
        entry.why = Why(why.reason, f"{why.message}; requeued, retry after t={requeue_at:.15g}")
        return requeue_at

    def requeue(self, workload_id: str, now: float) -> bool:
        """Makes a pending workload eligible now: ends its backoff and its inadmissible parking."""
        cq = self._pending_at.get(workload_id)
        if not cq:
            return False
        entry = self.pending[cq].entries[workload_id]
        entry.requeue_at, entry.why = now, None
        self.pending[cq].push(entry, now)
        return True

    def set_priority(self, workload_id: str, priority: int, now: float) -> str | None:
        """Gives a workload a new priority, with Kueue's meaning; returns where it was ("pending", "reserved") or
        None for a workload this engine does not hold.

        A pending workload takes its new place in its queue at once (its creation time is kept, so among equal
        priorities it keeps its age), out of backoff-free parking if BestEffortFIFO had stepped it aside. A
        reservation keeps its quota and defends it with the new priority; its cohort's stepped-aside heads get
        another look (a lowered priority may make it a victim they can preempt).
        """
        where = self.where(workload_id)
        if where == "pending":
            entry = self.pending_entry(workload_id)
            entry.workload = replace(entry.workload, priority=priority)
            if self._pending_at[workload_id]:  # routed ("" : unrouted, waiting for its local queue)
                self.pending[entry.cluster_queue].push(entry, now)
        elif where == "reserved":
            reservation = self.reservations[workload_id]
            changed = replace(reservation, workload=replace(reservation.workload, priority=priority))
            self.reservations[workload_id] = changed
            cq = changed.admission.cluster_queue
            self.admitted.setdefault(cq, {})[workload_id] = changed
            if cq in self.tree.queues:
                self._dirty_roots.add(self.tree.queues[cq].root().name)
        return where

    def mark_placed(self, workload_id: str) -> bool:
        """Records that the scheduler placed every pod (stops the waitForPodsReady clock)."""
        reservation = self.reservations.get(workload_id)
        if reservation is None:
            return False
        placed = replace(reservation, placed=True)
        self.reservations[workload_id] = placed
        self.admitted[placed.admission.cluster_queue][workload_id] = placed
        return True

    def apply_config(self, config: QuotaConfig, now: float) -> None:
        """Hot reload: rebuilds the tree and queues, keeping every reservation and pending workload."""
        self.config, self.tree = config, QuotaTree(config)
        self._set_afs(config)
        for reservation in self.reservations.values():
            cq = reservation.admission.cluster_queue
            if cq in self.tree.queues:  # a removed queue's workloads keep running, outside quota
                self.tree.add_usage(self.tree.queues[cq], reservation.admission.usage())
        unrouted, self.unrouted = self.unrouted, {}
        self._make_queues(now)
        for entry in unrouted.values():
            self._route(entry, now)
        self._dirty_roots.update(n.root().name for n in self.tree.queues.values())

    # -- the cycle --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Returns the read view a cycle works on (shares the tree; the cycle undoes its trials)."""
        return Snapshot(self.tree, self.admitted, frozenset(self.evicting),
                        self._candidate_lq_usage if self.afs is not None else None)

    def _candidate_lq_usage(self, workload: Workload) -> float:
        """Admission fair sharing orders same-queue victims by their local queue's usage."""
        lq = self.config.local_queues.get((workload.namespace, workload.queue_name))
        if lq is None or not self._afs_queue(lq.cluster_queue):
            return 0.0
        return self.local_queue_usage((workload.namespace, workload.queue_name))

    def plan(self, now: float) -> CycleResult:
        """Returns what a cycle at ``now`` decides, without applying it (a dry run)."""
        self._wake_dirty_roots(now)
        if self.afs is not None:
            self.afs.sample(now, (r for r in self.reservations.values() if self._afs_queue(r.admission.cluster_queue)))
        return schedule(self.snapshot(), self.pending, self.config, now)

    def run_cycle(self, now: float) -> CycleResult:
        """Runs one cycle at ``now``, applies its result here and returns it for publishing."""
        result = self.plan(now)
        self.apply(result, now)
        return result

    def _wake_dirty_roots(self, now: float) -> None:
        """BestEffortFIFO: quota freed in a tree, so its inadmissible workloads get another look."""
        if not self._dirty_roots:
            return
        for name, node in self.tree.queues.items():
            if node.root().name in self._dirty_roots and self.pending[name].inadmissible:
                self.pending[name].requeue_inadmissible(now)
        self._dirty_roots.clear()

    def apply(self, result: CycleResult, now: float) -> None:
        """Applies a cycle's decisions: reserve, expire, note targets and reasons."""
        for expired in result.expired:
            self.evict(expired.workload_id, expired.why, now)
        for admitted in result.admitted:
            entry = self.pending[admitted.cluster_queue].entries[admitted.workload_id]
            self.reserve(entry.workload, admitted.admission, now)
            if self._afs_queue(admitted.cluster_queue):
                self.afs.penalize(entry.local_queue, admitted.admission.usage())
        for preempting in result.preempting:
            self.evicting.update(t.workload_id for t in preempting.targets)
        for waiting in result.pending:
            queue = self.pending.get(waiting.cluster_queue)
            if queue is None:
                continue
            if waiting.step_aside:
                queue.step_aside(waiting.workload_id, waiting.why)
            elif waiting.workload_id in queue.entries:
                queue.entries[waiting.workload_id].why = waiting.why

    # -- visibility ---------------------------------------------------------------------------

    def pending_info(self, workload_id: str, now: float) -> PendingInfo | None:
        """Returns the position and the reason, in words, of a pending workload."""
        return self.pending_infos((workload_id,), now).get(workload_id)

    def pending_infos(self, workload_ids: Iterable[str], now: float) -> dict[str, PendingInfo]:
        """Returns ``pending_info`` of every pending workload among ``workload_ids``, ordering each queue once:
        a cycle that saw a whole queue step aside asks for all of it (per workload, that was quadratic)."""
        by_queue: dict[str, list[str]] = {}
        for wid in workload_ids:
            if (cq := self._pending_at.get(wid)) is not None:
                by_queue.setdefault(cq, []).append(wid)
        infos: dict[str, PendingInfo] = {}
        for cq, wids in by_queue.items():
            if cq == "":
                for wid in wids:
                    why = self.unrouted[wid].why or Why(Reason.LOCAL_QUEUE_NOT_FOUND, "not routed")
                    infos[wid] = PendingInfo(wid, None, 0, why.reason, why.message)
                continue
            ordered = self.pending[cq].ordered()
            positions = {e.workload.id: i for i, e in enumerate(ordered, 1)}
            for wid in wids:
                position = positions[wid]
                why = self._why_waiting(ordered[position - 1], ordered, position, now)
                infos[wid] = PendingInfo(wid, cq, position, why.reason, describe_position(position, cq, why.message))
        return infos

    def _why_waiting(self, entry: PendingEntry, ordered: list[PendingEntry], position: int,
                     now: float) -> Why:
        if entry.requeue_at > now:
            base = entry.why.message if entry.why else "requeued"
            return Why(Reason.BACKOFF, f"in backoff until t={entry.requeue_at:.15g} ({base})")
        if entry.why is not None:
            return entry.why
        head = self.pending[entry.cluster_queue].head(now)
        if head is not None and head is not entry and head.why is not None \
                and self.pending[entry.cluster_queue].strategy.value == "StrictFIFO":
            return Why(Reason.BLOCKED_BY_HEAD, f"StrictFIFO: blocked by {head.workload.id}: {head.why.message}")
        return Why(Reason.QUEUED, f"{position - 1} workload(s) ahead; not yet considered")
