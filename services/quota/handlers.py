"""Quota's handlers on the Kueue-semantics core: events → QuotaEngine calls → cycles → events.

``QuotaHandlers`` is the service object app.py composes: the engine and its state (cycles.py), the handlers of
lifecycle requests (lifecycle.py), and here the handlers of a workload's own course: accepted, placed, ended,
evicted, never fitting a flavor; and the router.
"""

from __future__ import annotations

import dataclasses
import json

from libs.events import (Event, PreemptionRequested, QuotaReleased, WorkloadAccepted, WorkloadEvicted, WorkloadFailed,
                         WorkloadPlaced, WorkloadUnschedulable, ends_workload)
from libs.platform.unit_of_work import Router, UnitOfWork
from libs.quota import QuotaEngine, Reason, Why
from services.quota.lifecycle import LifecycleHandlers
from services.quota.mapping import assignments_of, queue_flavors, workload_of
from services.quota.publish import announce_pending
from services.quota.state import Known, NewWorkload


class QuotaHandlers(LifecycleHandlers):
    """Quota's service object: its state and store (``QuotaCycles.__init__``) and every handler of its router."""

    async def handle_workload_accepted(self, event: WorkloadAccepted, uow: UnitOfWork) -> None:
        await self.handle_workload_accepted_batch([event], [uow])

    async def handle_workload_accepted_batch(self, events: list[WorkloadAccepted], uows: list[UnitOfWork]) -> None:
        """Queues every accepted workload of a run, then runs the cycles once for all of them. The run's rows are
        read and written set-wise, one select of its cancellations and one insert of its workloads: one by one,
        those were two round trips per workload."""
        engine = await self._enter(uows[0])
        conn = uows[0].conn
        cancelled = await self.store.cancelled_among(conn, [e.workload_id for e in events])
        # cancelled before quota saw it: never reserved (admission's topic orders this, but be sure)
        rows = [self._row_of(engine, e, u) for e, u in zip(events, uows) if e.workload_id not in cancelled]
        new = await self.store.insert_workloads(conn, rows) if rows else set()
        touched: set[str] = set()
        whys: dict[str, Why] = {}
        for row in rows:
            if row.workload_id in new:  # not a redelivered or resubmitted workload, nor a later copy in the run
                new.discard(row.workload_id)
                self._queue(engine, row, whys)
                touched.add(row.workload_id)
        if touched:
            await self.cycle(uows[-1], touched, whys)

    def _row_of(self, engine: QuotaEngine, event: WorkloadAccepted, uow: UnitOfWork) -> NewWorkload:
        """Returns the row an accepted workload is stored as: pending in the cluster queue its local queue names."""
        queue = event.spec.queue or "default"
        cq, _ = queue_flavors(engine.config, event.tenant.team, queue)
        return NewWorkload(workload_id=event.workload_id, tenant=event.tenant, local_queue=queue, cluster_queue=cq,
                           priority=event.priority, spec=event.spec, created_at=event.occurred_at.timestamp(),
                           trace=uow.trace_context())

    def _queue(self, engine: QuotaEngine, row: NewWorkload, whys: dict[str, Why]) -> None:
        """Queues one newly stored workload in the engine; notes why it waits unless it is simply queued."""
        wid = row.workload_id
        self.known[wid] = Known(row.tenant, row.spec, row.priority, json.loads(row.trace), (), row.created_at)
        why = engine.add_workload(workload_of(wid, row.tenant.team, row.spec, row.priority, row.created_at,
                                              engine.config), self.clock())
        if why.reason is not Reason.QUEUED:
            whys[wid] = why

    async def handle_workload_placed(self, event: WorkloadPlaced, uow: UnitOfWork) -> None:
        await self.handle_workload_placed_batch([event], [uow])

    async def handle_workload_placed_batch(self, events: list[WorkloadPlaced], uows: list[UnitOfWork]) -> None:
        """Stops the waitForPodsReady clock of every workload of a run that was placed; a placement that came after
        its reservation expired is undone, through its own event's unit of work (its cause and trace). The run's
        rows are written set-wise, one update of its suspensions and one of its placed workloads: one by one, those
        were a round trip or two per placement."""
        engine = await self._enter(uows[0])
        conn = uows[0].conn
        await self.store.saw_placed(conn, [e.workload_id for e in events])
        placed: list[str] = []
        for event, uow in zip(events, uows):
            if engine.mark_placed(event.workload_id):
                placed.append(event.workload_id)
            elif self._expired(engine, event.workload_id) and event.workload_id in self.known:
                await self._undo_placement(uow, self.known[event.workload_id])
        if placed:
            await self.store.mark_placed(conn, placed)

    @staticmethod
    async def _undo_placement(uow: UnitOfWork, k: Known) -> None:
        """Asks for the eviction of a workload placed after its reservation expired: it waits in its queue again."""
        await uow.emit(PreemptionRequested(
            reason=Reason.PODS_READY_TIMEOUT.value, victim_priority=k.priority,
            message="placed after its quota reservation expired (waitForPodsReady); evicted to requeue"))

    @staticmethod
    def _expired(engine: QuotaEngine, workload_id: str) -> bool:
        """True when the workload waits because its reservation expired (not after an eviction: placements
        and evictions travel on different topics, so a placement may arrive after its eviction)."""
        entry = engine.pending_entry(workload_id)
        return entry is not None and entry.why is not None and entry.why.reason is Reason.PODS_READY_TIMEOUT

    async def handle_workload_finished(self, event: Event, uow: UnitOfWork) -> None:
        await self.handle_workload_finished_batch([event], [uow])

    async def handle_workload_finished_batch(self, events: list[Event], uows: list[UnitOfWork]) -> None:
        """Releases the quota of every workload of a run that ended, then runs the cycles once for all of them:
        with a cohort full, every release wakes all its inadmissible workloads, so a cycle round per end made a
        deep queue's releases quadratic (the chaos run's backlog stalled quota for minutes). The run's suspended
        runs that ended by themselves are found and finished in one statement (was two per end)."""
        engine = await self._enter(uows[0])
        ends = [(e, u) for e, u in zip(events, uows) if ends_workload(e)]
        retries = [(e, u) for e, u in zip(events, uows) if not ends_workload(e)]  # its backoff limit retries them
        ending = [e.workload_id for e, _ in ends]
        alone = await self.store.ended_by_themselves(uows[0].conn, ending) if ending else set()
        touched: set[str] = set()
        for event, uow in ends:
            if event.workload_id in alone:
                alone.discard(event.workload_id)  # once, as one by one: a second end finds no suspension left
                continue  # its suspended run ended by itself before it was stopped: done, nothing to resume
            if await self._release(engine, event, uow):
                touched.add(event.workload_id)
        if touched:
            await self.cycle(uows[-1], touched, {})
        for event, uow in retries:
            await self._retry(engine, event, uow)

    async def _release(self, engine: QuotaEngine, event: Event, uow: UnitOfWork) -> bool:
        """Finishes an ended workload in the engine and says it released its quota; False if the engine did not
        hold it (already finished, evicted or cancelled)."""
        reservation = engine.reservations.get(event.workload_id)
        if not engine.finish(event.workload_id):
            return False
        if reservation is not None:
            await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue,
                                         reason=event.type.removeprefix("Workload").lower()))
        self.known.pop(event.workload_id, None)
        self.told.pop(event.workload_id, None)
        return True

    async def _retry(self, engine: QuotaEngine, event: WorkloadFailed, uow: UnitOfWork) -> None:
        """A failed run the workload's backoff limit retries: counts the failure (the next QuotaReserved carries
        it), releases the quota and requeues the workload with backoff, as after an eviction. A suspended run that
        failed has stopped: a resume queues it."""
        wid, now = event.workload_id, self.clock()
        if not await self.store.count_failure(uow.conn, wid, event.attempt):
            return  # counted already, or no longer quota's (finished, cancelled)
        if (k := self.known.get(wid)) is not None:
            self.known[wid] = k = dataclasses.replace(k, failures=event.attempt)
        if (resumed := await self.store.run_stopped(uow.conn, wid)) is not None:
            if resumed:
                await self._requeue_resumed(uow, engine, wid)
            return
        reservation = engine.reservations.get(wid)
        if reservation is None:
            return  # evicted or cancelled meanwhile: already requeued or gone
        limit = k.spec.backoff_limit if k is not None else event.attempt
        what = f"run failed on {event.cluster} ({event.reason}); retry {event.attempt} of {limit}"
        engine.evict(wid, Why(Reason.FAILED, what), now)
        cq = reservation.admission.cluster_queue
        self.kueue.evicted(uow, wid, cq, event.reason, now)
        await uow.emit(QuotaReleased(cluster_queue=cq, reason="retry"))
        self.told.pop(wid, None)
        await self.cycle(uow, {wid}, {})
        await announce_pending(engine, self.known, uow, self.clock(), wid, Why(Reason.BACKOFF,
                               f"{what}; requeued with backoff"), self.told)

    async def handle_workload_evicted(self, event: WorkloadEvicted, uow: UnitOfWork) -> None:
        """Releases an evicted workload's quota and requeues it with backoff (preemption, drained node)."""
        engine = await self._enter(uow)
        if (resumed := await self.store.run_stopped(uow.conn, event.workload_id)) is not None:
            if resumed:  # the end of the suspended run, which a resume was waiting for
                await self._requeue_resumed(uow, engine, event.workload_id)
            return
        reservation = engine.reservations.get(event.workload_id)
        if reservation is None:
            return  # already finished or requeued: a redelivered or late eviction
        engine.evict(event.workload_id, Why(Reason.EVICTED, f"evicted on {event.cluster} ({event.reason})"),
                     self.clock())
        self.kueue.evicted(uow, event.workload_id, reservation.admission.cluster_queue, event.reason, self.clock())
        await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="evicted"))
        self.told.pop(event.workload_id, None)
        await self.cycle(uow, {event.workload_id}, {})
        await announce_pending(engine, self.known, uow, self.clock(), event.workload_id,
                               Why(Reason.BACKOFF, "evicted; requeued with backoff"), self.told)

    async def handle_workload_unschedulable(self, event: WorkloadUnschedulable, uow: UnitOfWork) -> None:
        """A flavor whose nodes can never hold the pods: release it and let the queue's next flavor try."""
        if event.reason != "never-fits":
            return
        engine = await self._enter(uow)
        reservation, k = engine.reservations.get(event.workload_id), self.known.get(event.workload_id)
        if reservation is None or k is None:
            return
        unfit = {a.flavor for a in assignments_of(reservation.admission, k.spec)} - {""}
        engine.finish(event.workload_id)
        k = dataclasses.replace(k, excluded=tuple(sorted(set(k.excluded) | unfit)))
        self.known[event.workload_id] = k
        for flavor in sorted(unfit):
            await self.store.exclude_flavor(uow.conn, event.workload_id, flavor)
        engine.add_workload(workload_of(event.workload_id, k.tenant.team, k.spec, k.priority, k.created_at,
                                        engine.config, k.excluded), self.clock())
        await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="flavor-unfit"))
        await self.cycle(uow, {event.workload_id}, {})

    def router(self) -> Router:
        finished = self.handle_workload_finished
        return Router(
            handlers={"WorkloadAccepted": self.handle_workload_accepted, "WorkloadSucceeded": finished,
                      "WorkloadCancelled": self.handle_workload_cancelled,
                      "WorkloadSuspended": self.handle_workload_suspended,
                      "WorkloadResumed": self.handle_workload_resumed,
                      "WorkloadPriorityChanged": self.handle_workload_priority_changed,
                      "WorkloadFailed": finished, "WorkloadEvicted": self.handle_workload_evicted,
                      "WorkloadPlaced": self.handle_workload_placed,
                      "WorkloadUnschedulable": self.handle_workload_unschedulable},
            ignored=frozenset({"WorkloadRejected", "WorkloadRunning", "PreemptionRequested", "WorkloadCancelRefused",
                               "WorkloadRequestRefused"}),
            batch_handlers={"WorkloadAccepted": self.handle_workload_accepted_batch,
                            "WorkloadPlaced": self.handle_workload_placed_batch,
                            "WorkloadSucceeded": self.handle_workload_finished_batch,
                            "WorkloadFailed": self.handle_workload_finished_batch})
