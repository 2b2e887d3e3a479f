"""Turns a quota cycle's result (plain data from libs/quota) into events, inside the handler's transaction."""

from __future__ import annotations

from libs.events import PreemptionRequested, QuotaReleased, QuotaReserved, WorkloadPending
from libs.platform.unit_of_work import UnitOfWork
from libs.quota import CycleResult, QuotaEngine, Why
from services.quota.mapping import assignments_of, reserved_spec, words
from services.quota.state import Known


async def publish(result: CycleResult, engine: QuotaEngine, known: dict[str, Known], uow: UnitOfWork,
                  now: float, whys: dict[str, Why]) -> set[str]:
    """Emits the result's events; records each still-pending workload's why; returns the ids it touched."""
    touched: set[str] = set()
    for expired in result.expired:
        k = known[expired.workload_id]
        await uow.emit(QuotaReleased(workload_id=expired.workload_id, tenant=k.tenant,
                                     cluster_queue=expired.cluster_queue, reason=expired.why.reason.value),
                       trace=k.trace)
        touched.add(expired.workload_id)
    for admitted in result.admitted:
        k = known[admitted.workload_id]
        await uow.emit(QuotaReserved(workload_id=admitted.workload_id, tenant=k.tenant,
                                     cluster_queue=admitted.cluster_queue, priority=k.priority,
                                     failures=k.failures, spec=reserved_spec(k.spec, admitted.admission),
                                     flavors=assignments_of(admitted.admission, k.spec)), trace=k.trace)
        touched.add(admitted.workload_id)
    for preempting in result.preempting:
        await _request_preemptions(preempting, known, uow)
    for waiting in result.pending:
        touched.add(waiting.workload_id)
        whys[waiting.workload_id] = waiting.why
    return touched


async def _request_preemptions(preempting, known: dict[str, Known], uow: UnitOfWork) -> None:
    preemptor = known[preempting.workload_id]
    for target in preempting.targets:
        victim = known.get(target.workload_id)
        await uow.emit(PreemptionRequested(
            workload_id=target.workload_id, tenant=victim.tenant if victim else None,
            preemptor=preempting.workload_id, reason=target.reason.value,
            message=f"quota preemption ({target.reason.value}): {preempting.workload_id} in "
                    f"{preempting.cluster_queue} needs the quota {target.workload_id} holds in "
                    f"{target.cluster_queue}",
            preemptor_priority=preemptor.priority, victim_priority=victim.priority if victim else None),
            trace=victim.trace if victim else None)


async def announce_pending(engine: QuotaEngine, known: dict[str, Known], uow: UnitOfWork, now: float,
                           workload_id: str, why: Why, last: dict[str, tuple[str, str]], info=None) -> None:
    """Emits WorkloadPending when a workload's reason changed since the last one it was told (``info``: its
    ``engine.pending_info``, if the caller has it already)."""
    info = info or engine.pending_info(workload_id, now)
    k = known.get(workload_id)
    if info is None or k is None:
        return
    message = words(why, now)
    if last.get(workload_id, ("", ""))[0] == why.reason.value:
        return
    last[workload_id] = (why.reason.value, message)
    position = f"{info.position} in {info.cluster_queue}; " if info.cluster_queue else ""
    await uow.emit(WorkloadPending(workload_id=workload_id, tenant=k.tenant, cluster_queue=info.cluster_queue,
                                   reason=why.reason.value, message=(position + message)[:2000],
                                   position=info.position or None), trace=k.trace)
