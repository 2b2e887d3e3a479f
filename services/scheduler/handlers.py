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
    PreemptionRequested,
    QuotaReserved,
    WorkloadCancelled,
    WorkloadPlaced,
    WorkloadPriorityChanged,
    WorkloadSuspended,
    WorkloadUnschedulable,
)
from libs.events.topics import PLACEMENT
from libs.platform.unit_of_work import Router, UnitOfWork
from services.scheduler.repository import PostgresSchedulerStore, SchedulerStore
from services.scheduler.adapters import UNSCHEDULABLE_STATES, assignments_of
from libs.placement import Decision, DecisionKind
from services.scheduler.engine import Pending, Placer, pending_of

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
        await self._begin(uow)
        trace = uow.trace_context()
        seq = await self.store.add_pending(uow.conn, event, trace)
        pending = pending_of(event, seq, json.loads(trace))
        self.placer.enqueue(pending)
        before = self.placer.policy.typical_pods
        self.placer.learn(pending.workload)
        if (mix := self.placer.mix_to_save()) is not None:
            await self.store.save_pod_mix(uow.conn, mix)
        if self.placer.policy.typical_pods != before:
            log.info("FGD typical pods learned from %d pods: %s", self.placer.mix.seen, ", ".join(
                f"{p.popularity:.2f} × {p.cpu_milli}m CPU/{p.gpu_count} GPU"
                f"{f' ({p.gpu_milli}m)' if p.gpu_count and p.gpu_milli < 1000 else ''}"
                for p in self.placer.policy.typical_pods))
        await self.place_pending(uow, only=event.workload_id)

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
        """Runs a placement cycle and records each decision."""
        for pending, decision in self.placer.cycle(only):
            await self._record(decision, pending, uow)

    async def _record(self, d: Decision, source: Pending, uow: UnitOfWork) -> None:
        reservation, trace = source.reservation, source.trace
        if d.kind == DecisionKind.PLACED:
            await self._placed(d, reservation, trace, uow)
        elif d.kind == DecisionKind.NEVER_FITS:
            await self.store.delete_pending(uow.conn, d.workload_id)
            await self._unschedulable(d, reservation, trace, uow)
        elif d.kind == DecisionKind.UNSCHEDULABLE:
            await self.store.set_pending_reason(uow.conn, d.workload_id, d.message, sorted(d.awaiting))
            await self._unschedulable(d, reservation, trace, uow)
        else:
            await self._preempt(d, reservation, trace, uow)

    async def _placed(self, d: Decision, reservation: QuotaReserved, trace, uow: UnitOfWork) -> None:
        result = d.placement
        await self.store.save_placement(uow.conn, d.workload_id, result.cluster, list(d.pods), reservation.priority,
                                  d.pods[0].started_at, reservation.tenant, trace)
        await uow.emit(WorkloadPlaced(workload_id=d.workload_id, tenant=reservation.tenant, cluster=result.cluster,
                                      assignments=assignments_of(result), spec=reservation.spec,
                                      cluster_queue=reservation.cluster_queue, failures=reservation.failures,
                                      cluster_reason=_clip(result.why_cluster, 2000) or None), trace=trace)

    async def _unschedulable(self, d: Decision, reservation: QuotaReserved, trace, uow: UnitOfWork) -> None:
        await uow.emit(WorkloadUnschedulable(workload_id=d.workload_id, tenant=reservation.tenant, reason=d.reason,
                                             message=_clip(d.message, 4000)), trace=trace)

    async def _preempt(self, d: Decision, reservation: QuotaReserved, trace, uow: UnitOfWork) -> None:
        """Asks the connector to evict each victim gang (whole workloads), on the placement topic."""
        await self.store.set_pending_reason(uow.conn, d.workload_id, d.message, [v.workload_id for v in d.victims])
        for victim in d.victims:
            await uow.emit(PreemptionRequested(
                workload_id=victim.workload_id, tenant=self.placer.owners.get(victim.workload_id),
                preemptor=d.workload_id, reason="preempted-by-priority",
                message=_clip(f"evicted so {d.workload_id} (priority {reservation.priority}) can run; victim "
                              f"priority {victim.priority}", 2000),
                preemptor_priority=reservation.priority, victim_priority=victim.priority,
                nodes=self.placer.nodes_of(victim.workload_id)), topic=PLACEMENT,
                trace=self.placer.traces.get(victim.workload_id, trace))
        if self.metrics is not None and d.victims:
            metrics, queue, count = self.metrics, reservation.cluster_queue, len(d.victims)
            uow.after_commit(lambda: metrics.preempted(queue, count))
        await self._unschedulable(d, reservation, trace, uow)

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
            ignored=frozenset({"QuotaReleased", "WorkloadPending", "PreemptionRequested", "WorkloadRunning"}))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
