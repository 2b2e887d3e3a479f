"""Scheduler handlers: keep the placer's snapshot from node and workload events; turn its decisions into
rows and events. Each runs in the consumer's transaction, fenced by the leader lock; in-memory changes are
applied as decided, and after a failed transaction everything is rebuilt from Postgres."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable

from libs.events import (
    ClusterReachabilityChanged,
    Event,
    NodeInventoried,
    NodeRepairTransitioned,
    QuotaReserved,
    WorkloadCancelled,
    WorkloadPriorityChanged,
    WorkloadSuspended,
)
from libs.events.topics import PLACEMENT
from libs.placement import Workload
from libs.platform.unit_of_work import Router, UnitOfWork
from services.scheduler.adapters import UNSCHEDULABLE_STATES, workload_of
from services.scheduler.engine import Placer, pending_of
from services.scheduler.recording import record
from services.scheduler.repository import PostgresSchedulerStore, SchedulerStore

log = logging.getLogger("batchyard.scheduler")


class SchedulerHandlers:
    """Owns the placer (snapshot + pending). ``fence`` checks leadership inside every transaction."""

    def __init__(self, placer: Placer, load: Callable[[], Awaitable[Placer]],
                 fence: Callable[[object], Awaitable[None]] | None = None, metrics=None,
                 store: SchedulerStore | None = None) -> None:
        self.placer = placer
        self.store: SchedulerStore = store or PostgresSchedulerStore()  # the rows ``load`` rebuilds from
        self.metrics = metrics  # SchedulerMetrics (counts node-level preemptions at commit), or None
        self._load = load  # async () -> Placer: the state as Postgres knows it
        self._fence = fence
        self._stale = False  # a transaction failed after changing the placer: rebuild before the next event
        self._fenced: object | None = None  # the connection whose open transaction has been fenced

    async def _begin(self, uow: UnitOfWork) -> None:
        """Fences the transaction once (a batch runs many handlers in one) and rebuilds a stale placer."""
        if self._fence is not None and self._fenced is not uow.conn:
            await self._fence(uow.conn)
            self._fenced = uow.conn
            uow.after_commit(self._unfence)
            uow.on_rollback(self._unfence)
        await self.current()
        uow.on_rollback(self._mark_stale)

    def _unfence(self) -> None:
        self._fenced = None

    def _mark_stale(self) -> None:
        self._stale = True

    async def current(self) -> Placer:
        """Returns the placer, first rebuilt from Postgres if a failed transaction left it ahead of the rows.

        Rebuilding lazily (not in the rollback hook) keeps working when Postgres itself was what failed.
        """
        if self._stale:
            self.placer = await self._load()
            self._stale = False
        return self.placer

    async def handle_node_inventoried(self, event: NodeInventoried, uow: UnitOfWork) -> None:
        await self._begin(uow)
        await self.store.save_node(uow.conn, event)
        if self.placer.apply_inventory(event) and not event.removed:
            await self.place_pending(uow)

    async def handle_node_repair_transitioned(self, event: NodeRepairTransitioned, uow: UnitOfWork) -> None:
        await self._begin(uow)
        await self.store.save_repair_state(uow.conn, event.node_id, event.to_state)
        self.placer.set_repair_state(event.node_id, event.to_state)
        if event.to_state not in UNSCHEDULABLE_STATES:
            await self.place_pending(uow)

    async def handle_cluster_reachability_changed(self, event: ClusterReachabilityChanged, uow: UnitOfWork) -> None:
        """Node repair judged a cluster unreachable (its nodes take no new pods; its running workloads stay bound,
        never started twice) or back (a cycle runs: what waited for it may now be placed)."""
        await self._begin(uow)
        await self.store.save_cluster_reachability(uow.conn, event)
        if self.placer.set_cluster_reachable(event.cluster, event.reachable) and event.reachable:
            await self.place_pending(uow)

    async def handle_quota_reserved(self, event: QuotaReserved, uow: UnitOfWork) -> None:
        """Places one reservation (outside a poll batch, or when a failed batch is redone event by event)."""
        await self.handle_quota_reserved_batch([event], [uow])

    async def handle_quota_reserved_batch(self, events: list[QuotaReserved], uows: list[UnitOfWork]) -> None:
        """Stores, queues and learns a run of consecutive reservations of one poll batch, then places them in one
        cycle, with a few set-wise statements instead of three round trips per reservation.

        The rows and events are those of handling them one by one, except their order within the run: the
        cycle takes the run's workloads by priority, then arrival (the core's own order), not as they came; and
        the pod mix learns the whole run before its cycle. A later reservation of a workload in the run replaces
        an earlier one (quota's newer decision; one by one it replaced the stored row too, unless the earlier
        had been placed at once), so the earlier gets no word of its own. A reservation the cycle skips as
        shaped like one that just failed still gets its own decision (``Placer.place_arrivals``), after the rest
        of the run. Each event is emitted through the UnitOfWork of the reservation it is about, so its cause
        and trace are that reservation's.
        """
        await self._begin(uows[0])
        latest: dict[str, tuple[QuotaReserved, UnitOfWork, str]] = {}  # in first-arrival order (the seq's)
        for event, uow in zip(events, uows):
            latest[event.workload_id] = (event, uow, uow.trace_context())
        conn = uows[0].conn  # the batch's one transaction
        seqs = await self.store.add_pending_many(conn, [(event, trace) for event, _, trace in latest.values()])
        arrived = {wid: pending_of(event, seqs[wid], json.loads(trace)) for wid, (event, _, trace) in latest.items()}
        for pending in arrived.values():
            self.placer.enqueue(pending)
        await self._learn([arrived[e.workload_id].workload if latest[e.workload_id][0] is e else workload_of(e)
                           for e in events], conn)
        await record(self.placer.place_arrivals(list(arrived)), lambda wid: latest[wid][1], placer=self.placer,
                     store=self.store, metrics=self.metrics)

    async def _learn(self, workloads: list[Workload], conn) -> None:
        """Counts the workloads into the learned pod mix; stores the mix when it was looked at (``mix_to_save``)."""
        before = self.placer.policy.typical_pods
        for workload in workloads:
            self.placer.learn(workload)
        if (mix := self.placer.mix_to_save()) is not None:
            await self.store.save_pod_mix(conn, mix)
        if self.placer.policy.typical_pods != before:
            log.info("FGD typical pods learned from %d pods: %s", self.placer.mix.seen, ", ".join(
                f"{p.popularity:.2f} × {p.cpu_milli}m CPU/{p.gpu_count} GPU"
                f"{f' ({p.gpu_milli}m)' if p.gpu_count and p.gpu_milli < 1000 else ''}"
                for p in self.placer.policy.typical_pods))

    async def handle_workload_ended(self, event: Event, uow: UnitOfWork) -> None:
        await self._begin(uow)
        had_placement = await self.store.delete_workload(uow.conn, event.workload_id)
        freed = self.placer.free(event.workload_id)
        if had_placement or freed:
            await self.place_pending(uow)

    async def handle_workload_cancelled(self, event: WorkloadCancelled | WorkloadSuspended, uow: UnitOfWork) -> None:
        """Forgets a cancelled (or suspended) workload waiting for placement (it is not placed), and forwards the
        event on the placement topic, after its WorkloadPlaced if it has one, so the connectors stop its pods;
        ``placed`` says whether it is bound. Its nodes are freed by the connector's report that the pods stopped
        (WorkloadFailed reason cancelled; WorkloadEvicted reason suspended)."""
        await self._begin(uow)
        was_pending, placed = self.placer.forget(event.workload_id)
        if was_pending:
            await self.store.delete_pending(uow.conn, event.workload_id)
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4(), "placed": placed}), topic=PLACEMENT)

    async def handle_workload_priority_changed(self, event: WorkloadPriorityChanged, uow: UnitOfWork) -> None:
        """Quota's copy of a priority change: the pending reservation and the bound pods take the new priority,
        then a cycle runs (a raised workload may now preempt; a lowered one may now be a victim)."""
        await self._begin(uow)
        pending, bound = self.placer.reprioritise(event.workload_id, event.priority)
        if pending or bound:
            await self.store.set_priority(uow.conn, event.workload_id, event.priority, pending=pending, bound=bound)
            await self.place_pending(uow)

    async def place_pending(self, uow: UnitOfWork, only: str | None = None) -> None:
        """Runs a placement cycle (over every pending workload, or just ``only``) and records each decision."""
        await record(self.placer.cycle(only), lambda _: uow, placer=self.placer, store=self.store,
                     metrics=self.metrics)

    def router(self) -> Router:
        ended = self.handle_workload_ended
        return Router(
            handlers={"NodeInventoried": self.handle_node_inventoried, "QuotaReserved": self.handle_quota_reserved,
                      "WorkloadCancelled": self.handle_workload_cancelled,
                      "WorkloadSuspended": self.handle_workload_cancelled,
                      "WorkloadPriorityChanged": self.handle_workload_priority_changed,
                      "NodeRepairTransitioned": self.handle_node_repair_transitioned, "WorkloadSucceeded": ended,
                      "ClusterReachabilityChanged": self.handle_cluster_reachability_changed,
                      "WorkloadFailed": ended, "WorkloadEvicted": ended},
            ignored=frozenset({"QuotaReleased", "WorkloadPending", "PreemptionRequested", "WorkloadRunning"}),
            batch_handlers={"QuotaReserved": self.handle_quota_reserved_batch})

