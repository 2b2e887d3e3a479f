"""Quota's handlers of the requests admission passes on about a workload it holds: cancel, suspend, resume and
priority change. Each releases or requeues through the engine, then forwards the request on the quota topic,
after every QuotaReserved of the workload, so the scheduler learns of it in order."""

from __future__ import annotations

import dataclasses
import uuid

from libs.events import QuotaReleased, WorkloadCancelled, WorkloadPriorityChanged, WorkloadResumed, WorkloadSuspended
from libs.events.topics import QUOTA
from libs.platform.unit_of_work import UnitOfWork
from libs.quota import QuotaEngine, Reason
from services.quota.cycles import QuotaCycles
from services.quota.mapping import workload_of
from services.quota.state import known_of


class LifecycleHandlers(QuotaCycles):
    """The handlers of cancellations, suspensions, resumes and priority changes (QuotaHandlers has the rest)."""

    async def handle_workload_cancelled(self, event: WorkloadCancelled, uow: UnitOfWork) -> None:
        """Releases a cancelled workload's quota (reserved or pending), remembers it so it is never reserved again,
        and forwards the cancellation on the quota topic: after every QuotaReserved of it, so the scheduler learns
        of it in order. Once per workload: the scheduler's copy coming back on the placement topic changes nothing."""
        engine = await self._enter(uow)
        wid = event.workload_id
        reservation, had = engine.reservations.get(wid), engine.where(wid)
        if not await self.store.remember_cancelled(uow.conn, wid, event.cancelled_at, had):
            return
        if engine.finish(wid) and reservation is not None:
            await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="cancelled"))
        await self.store.forget_suspended(uow.conn, wid)  # a suspended workload cancelled: never queued again
        self.known.pop(wid, None)
        self.told.pop(wid, None)
        self.asked.pop(wid, None)
        await self.cycle(uow, {wid}, {})  # the freed quota may admit others
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4()}), topic=QUOTA)

    async def handle_workload_suspended(self, event: WorkloadSuspended, uow: UnitOfWork) -> None:
        """Admission's copy: releases the workload's quota (reserved, QuotaReleased reason suspended) or drops it
        from its queue, records the suspension and forwards it on the quota topic, after every QuotaReserved of it.
        The scheduler's copy (``placed`` filled in) says whether a run is still to stop."""
        engine = await self._enter(uow)
        wid = event.workload_id
        if event.placed is not None:  # the scheduler's copy: no nodes held means nothing to wait for
            if not event.placed and await self.store.run_stopped(uow.conn, wid, event.suspended_at):
                await self._requeue_resumed(uow, engine, wid)
            return
        if await self.store.was_cancelled(uow.conn, wid):
            return
        reservation, had = engine.reservations.get(wid), engine.where(wid)
        if had is None and await self.store.workload_state(uow.conn, wid) == "finished":
            had = "finished"  # its run ended before the suspension reached quota
        placed = reservation is not None and reservation.placed
        if not await self.store.remember_suspended(uow.conn, wid, event.suspended_at, had, placed):
            return
        if engine.finish(wid) and reservation is not None:
            await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="suspended"))
        self.known.pop(wid, None)
        self.told.pop(wid, None)
        self.asked.pop(wid, None)
        await self.cycle(uow, {wid}, {})  # the freed quota may admit others
        if had != "finished":
            await self.store.mark_suspended(uow.conn, wid)
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4()}), topic=QUOTA)

    async def handle_workload_resumed(self, event: WorkloadResumed, uow: UnitOfWork) -> None:
        """Queues a resumed workload again as pending (a fresh attempt), now or once its suspended run stopped."""
        engine = await self._enter(uow)
        if await self.store.resume(uow.conn, event.workload_id, event.resumed_at) == "queue":
            await self._requeue_resumed(uow, engine, event.workload_id)

    async def handle_workload_priority_changed(self, event: WorkloadPriorityChanged, uow: UnitOfWork) -> None:
        """Gives a workload its new priority (Kueue's meaning, ``QuotaEngine.set_priority``): a pending one moves
        in its queue, a reservation defends its quota with it, a suspended one is queued with it when resumed.
        Then runs the cycles (a raised workload may be admitted, or preempt; a lowered reservation may now be a
        victim) and forwards the change on the quota topic, after every QuotaReserved of the workload, so the
        scheduler's pending queue and node-level preemption use it too. A finished or cancelled workload changes
        nothing and is not forwarded."""
        engine = await self._enter(uow)
        wid = event.workload_id
        if (await self.store.was_cancelled(uow.conn, wid)
                or not await self.store.set_priority(uow.conn, wid, event.priority)):
            return
        if (k := self.known.get(wid)) is not None:
            self.known[wid] = dataclasses.replace(k, priority=event.priority)
        if engine.set_priority(wid, event.priority, self.clock()) is not None:
            self.told.pop(wid, None)  # its position changed: say where it waits now
            await self.cycle(uow, {wid}, {})
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4()}), topic=QUOTA)

    async def _requeue_resumed(self, uow: UnitOfWork, engine: QuotaEngine, wid: str) -> None:
        """Puts a resumed workload at the back of its queue: its place before the suspension is not kept."""
        await self.store.forget_suspended(uow.conn, wid)
        now = self.clock()
        row = await self.store.requeue_resumed(uow.conn, wid, now)
        if row is None or engine.where(wid) is not None:
            return
        k = self.known[wid] = known_of(row)
        why = engine.add_workload(workload_of(wid, k.tenant.team, k.spec, k.priority, now, engine.config,
                                              k.excluded), now)
        await self.cycle(uow, {wid}, {} if why.reason is Reason.QUEUED else {wid: why})
