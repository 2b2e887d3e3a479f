"""Turns a cycle's decisions into rows and events (Armada-style: the placer finds, this does).

Every cycle is recorded the same way, whether a node event ran it over the whole queue or a poll batch of
reservations ran it over its own: the pending rows of what was placed or handed back to quota go in one
statement and the placements in another, so a cycle costs a few round trips, not a few per workload. Each
event is emitted through the UnitOfWork of the event the decision answers, so its cause and trace are right.
"""

from __future__ import annotations

from collections.abc import Callable

from libs.events import PreemptionRequested, QuotaReserved, WorkloadPlaced, WorkloadUnschedulable
from libs.events.topics import PLACEMENT
from libs.placement import Decision, DecisionKind
from libs.platform.unit_of_work import UnitOfWork
from services.scheduler.adapters import assignments_of
from services.scheduler.engine import Pending, Placer
from services.scheduler.repository import NewPlacement, SchedulerStore

Decided = list[tuple[Pending, Decision]]  # what ``Placer.cycle`` returns: each decision with its reservation
UnitOf = Callable[[str], UnitOfWork]  # workload id -> the UnitOfWork its decision is emitted through


async def record(decided: Decided, unit_of: UnitOf, *, placer: Placer, store: SchedulerStore, metrics) -> None:
    """Stores a cycle's decisions and emits what they say, in the cycle's order.

    ``metrics`` (SchedulerMetrics or None) counts node-level preemptions once the transaction commits.
    """
    if not decided:
        return
    conn = unit_of(decided[0][1].workload_id).conn  # one transaction: every UnitOfWork shares its connection
    await store.delete_pending_many(conn, [d.workload_id for _, d in decided
                                           if d.kind in (DecisionKind.PLACED, DecisionKind.NEVER_FITS)])
    await store.save_placements(conn, [_new_placement(d, p) for p, d in decided if d.kind == DecisionKind.PLACED])
    for pending, d in decided:
        uow = unit_of(d.workload_id)
        reservation, trace = pending.reservation, pending.trace
        if d.kind == DecisionKind.PLACED:
            await _placed(d, reservation, trace, uow)
        elif d.kind == DecisionKind.NEVER_FITS:
            await _unschedulable(d, reservation, trace, uow)
        elif d.kind == DecisionKind.UNSCHEDULABLE:
            await store.set_pending_reason(uow.conn, d.workload_id, d.message, sorted(d.awaiting))
            await _unschedulable(d, reservation, trace, uow)
        else:
            await store.set_pending_reason(uow.conn, d.workload_id, d.message, [v.workload_id for v in d.victims])
            await _preempt(d, reservation, trace, uow, placer, metrics)


def _new_placement(d: Decision, source: Pending) -> NewPlacement:
    reservation = source.reservation
    return NewPlacement(d.workload_id, d.placement.cluster, tuple(d.pods), reservation.priority,
                        d.pods[0].started_at, reservation.tenant, source.trace)


async def _placed(d: Decision, reservation: QuotaReserved, trace, uow: UnitOfWork) -> None:
    result = d.placement
    await uow.emit(WorkloadPlaced(workload_id=d.workload_id, tenant=reservation.tenant, cluster=result.cluster,
                                  assignments=assignments_of(result), spec=reservation.spec,
                                  cluster_queue=reservation.cluster_queue, failures=reservation.failures,
                                  cluster_reason=_clip(result.why_cluster, 2000) or None), trace=trace)


async def _unschedulable(d: Decision, reservation: QuotaReserved, trace, uow: UnitOfWork) -> None:
    await uow.emit(WorkloadUnschedulable(workload_id=d.workload_id, tenant=reservation.tenant, reason=d.reason,
                                         message=_clip(d.message, 4000)), trace=trace)


async def _preempt(d: Decision, reservation: QuotaReserved, trace, uow: UnitOfWork, placer: Placer,
                   metrics) -> None:
    """Asks the connector to evict each victim gang (whole workloads), on the placement topic."""
    for victim in d.victims:
        await uow.emit(PreemptionRequested(
            workload_id=victim.workload_id, tenant=placer.owners.get(victim.workload_id),
            preemptor=d.workload_id, reason="preempted-by-priority",
            message=_clip(f"evicted so {d.workload_id} (priority {reservation.priority}) can run; victim "
                         f"priority {victim.priority}", 2000),
            preemptor_priority=reservation.priority, victim_priority=victim.priority,
            nodes=placer.nodes_of(victim.workload_id)), topic=PLACEMENT,
            trace=placer.traces.get(victim.workload_id, trace))
    if metrics is not None and d.victims:
        queue, count = reservation.cluster_queue, len(d.victims)
        uow.after_commit(lambda: metrics.preempted(queue, count))
    await _unschedulable(d, reservation, trace, uow)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
