"""Admission's handlers: one per event type, registered in ``router``."""

from __future__ import annotations

from libs.events import WorkloadAccepted, WorkloadRejected, WorkloadSubmitted
from libs.platform.unit_of_work import Router, UnitOfWork
from services.admission.policy import decide, reject


async def handle_workload_submitted(event: WorkloadSubmitted, uow: UnitOfWork) -> None:
    verdict = decide(event)
    if verdict.accepted and await _already_decided(uow, event.workload_id):
        verdict = reject("duplicate-workload", "workload-id-unique",
                         f"workload {event.workload_id} was already submitted")
        await uow.emit(WorkloadRejected(reason=verdict.reason, message=verdict.message, rule=verdict.rule))
        return
    await uow.conn.execute(
        "insert into decisions(workload_id, event_id, org, team, queue, accepted, reason, rule, message) "
        "values ($1,$2,$3,$4,$5,$6,$7,$8,$9) on conflict (workload_id) do nothing",
        event.workload_id or f"<none:{event.event_id}>", event.event_id,
        event.tenant.org if event.tenant else None, event.tenant.team if event.tenant else None,
        verdict.spec.queue if verdict.spec else event.spec.queue, verdict.accepted, verdict.reason, verdict.rule,
        verdict.message)
    if verdict.accepted:
        await uow.emit(WorkloadAccepted(spec=verdict.spec, priority=verdict.priority))
    else:
        await uow.emit(WorkloadRejected(reason=verdict.reason, message=verdict.message, rule=verdict.rule))


async def _already_decided(uow: UnitOfWork, workload_id: str) -> bool:
    return bool(await uow.conn.fetchval("select 1 from decisions where workload_id = $1", workload_id))


router = Router(handlers={"WorkloadSubmitted": handle_workload_submitted})
