"""Quota's handlers on the Kueue-semantics core: events → QuotaEngine calls → cycles → events.

The engine lives in memory and is changed optimistically inside each handler's transaction; the rows it
touched are written in that same transaction. If the transaction rolls back, the engine is marked stale
and rebuilt from Postgres before the next use. One lock serialises handlers and the timer (backoff ends,
waitForPodsReady expiry, config reloads).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from libs.events import (Event, PreemptionRequested, QuotaReleased, WorkloadAccepted, WorkloadCancelled,
                         WorkloadEvicted, WorkloadFailed, WorkloadPlaced, WorkloadPriorityChanged, WorkloadResumed,
                         WorkloadSuspended, WorkloadUnschedulable, ends_workload)
from libs.events.topics import QUOTA
from libs.platform.unit_of_work import Router, UnitOfWork
from libs.quota import QuotaEngine, Reason, Why
from libs.quota.loader import load_config
from services.quota import state, suspension
from services.quota.mapping import assignments_of, queue_flavors, workload_of
from services.quota.metrics import QuotaMetrics
from services.quota.publish import announce_pending, publish

log = logging.getLogger("batchyard.quota")
MAX_CYCLES = 5000  # per event: one head per cluster queue per cycle, so this bounds one burst of admissions
# A victim still holding quota this long after quota asked for its eviction is asked for again (see _ask_again).
PREEMPTION_RETRY_S = 5.0


class QuotaService:
    """The quota engine, its workloads' details, and the handlers that feed them."""

    def __init__(self, pool: asyncpg.Pool, clock: Callable[[], float] = time.time, metrics=None,
                 fence: Callable[[asyncpg.Connection], Awaitable[None]] | None = None):
        self.pool = pool
        self.clock = clock
        self.metrics = metrics
        self.fence = fence  # raises inside a transaction unless this instance still holds the leader lock
        self.lock = asyncio.Lock()  # one writer of the engine at a time (handlers and the timer)
        self._holder: asyncpg.Connection | None = None  # the connection whose transaction holds ``lock``
        self.engine: QuotaEngine | None = None  # None: stale, rebuild from Postgres before use
        self.known: dict[str, state.Known] = {}  # workload id → tenant, spec, trace (reserved and pending)
        self.version = 0  # config version in force
        self.told: dict[str, tuple[str, str]] = {}  # workload id → last WorkloadPending (reason, message)
        self.asked: dict[str, tuple[float, PreemptionRequested]] = {}  # victim id → when and how quota last asked
        self._depth = 0  # last queue depth reported
        self.kueue = QuotaMetrics(lambda: self.engine)  # Kueue-named metrics (services/quota/metrics.py)

    # -- engine life cycle --------------------------------------------------------------------------

    async def rebuild(self, conn: asyncpg.Connection) -> None:
        """Rebuilds the engine from the stored config and workload rows."""
        latest = await state.latest_config(conn)
        if latest is None:
            raise RuntimeError("no quota config stored")
        self.version = latest[0]
        self.engine, self.known = await state.load_engine(conn, latest[1], self.clock())
        self.told.clear()  # a rolled-back transaction may have noted a WorkloadPending it never sent: tell again
        log.info("quota engine rebuilt: config v%d, %d reserved, %d pending", self.version,
                 len(self.engine.reservations), len(self.known) - len(self.engine.reservations))

    async def reload(self, conn: asyncpg.Connection) -> set[str]:
        """Hot reload: ``engine.apply_config`` keeps every reservation, pending workload and backoff.

        Pending workloads get their flavor eligibility recomputed for the new flavors and queues;
        returns their ids (their cluster queue may have changed).
        """
        version, text = await state.latest_config(conn)
        config, engine, now = load_config(text), self.engine, self.clock()
        engine.apply_config(config, now)
        for wid in list(engine._pending_at):  # noqa: SLF001 - swapping requests of queued entries in place
            k, entry = self.known.get(wid), engine.pending_entry(wid)
            if k is not None and entry is not None:
                entry.workload = workload_of(wid, k.tenant.team, k.spec, k.priority, k.created_at, config,
                                             k.excluded)
        self.version = version
        log.info("quota config v%d applied: %d reservations kept", version, len(engine.reservations))
        return set(engine._pending_at)  # noqa: SLF001 - read-only

    async def ensure_config(self, text: str, source: str) -> None:
        """Stores ``text`` as version 1 when no config is stored yet, then builds the engine."""
        load_config(text)  # fail start-up on a bad file
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("lock table quota_configs in exclusive mode")
                if await state.latest_config(conn) is None:
                    await state.store_config(conn, text, source)
            await self.rebuild(conn)

    async def _enter(self, uow: UnitOfWork) -> QuotaEngine:
        """Takes the lock for this transaction; rebuilds a stale engine; arranges release and rollback.

        A batch runs several handlers in one transaction (one connection): the first takes the lock and
        registers its release; the others find their connection already holding it and go straight on.
        """
        if self._holder is not uow.conn:
            await self.lock.acquire()
            self._holder = held = uow.conn

            def release() -> None:
                if self._holder is held:  # once, and never another transaction's (or the timer's) hold
                    self._holder = None
                    self.lock.release()

            def stale() -> None:
                self.engine = None
                release()

            uow.after_commit(release)
            uow.on_rollback(stale)
            if self.fence is not None:
                await self.fence(uow.conn)
        if self.engine is None:
            await self.rebuild(uow.conn)
        return self.engine

    # -- handlers -----------------------------------------------------------------------------------

    async def handle_workload_accepted(self, event: WorkloadAccepted, uow: UnitOfWork) -> None:
        await self.handle_workload_accepted_batch([event], [uow])

    async def handle_workload_accepted_batch(self, events: list[WorkloadAccepted], uows: list[UnitOfWork]) -> None:
        """Queues every accepted workload of a batch, then runs the cycles once for all of them."""
        engine = await self._enter(uows[0])
        touched: set[str] = set()
        whys: dict[str, Why] = {}
        for event, uow in zip(events, uows):
            if await self._queue(engine, event, uow, whys):
                touched.add(event.workload_id)
        if touched:
            await self.cycle(uows[-1], touched, whys)

    async def _queue(self, engine: QuotaEngine, event: WorkloadAccepted, uow: UnitOfWork,
                     whys: dict[str, Why]) -> bool:
        """Stores and queues one accepted workload; False if it was cancelled first or is already known."""
        if await state.was_cancelled(uow.conn, event.workload_id):
            return False  # cancelled before quota saw it: never reserved (admission's topic orders this, but be sure)
        team, queue, now = event.tenant.team, event.spec.queue or "default", self.clock()
        cq, _ = queue_flavors(engine.config, team, queue)
        created = event.occurred_at.timestamp()
        if not await state.insert_workload(uow.conn, workload_id=event.workload_id, tenant=event.tenant,
                                           local_queue=queue, cluster_queue=cq, priority=event.priority,
                                           spec=event.spec, created_at=created, trace=uow.trace_context()):
            return False  # a redelivered or resubmitted workload
        self.known[event.workload_id] = state.Known(event.tenant, event.spec, event.priority,
                                                    json.loads(uow.trace_context()), (), created)
        why = engine.add_workload(workload_of(event.workload_id, team, event.spec, event.priority, created,
                                              engine.config), now)
        if why.reason is not Reason.QUEUED:
            whys[event.workload_id] = why
        return True

    async def handle_workload_placed(self, event: WorkloadPlaced, uow: UnitOfWork) -> None:
        """Stops the waitForPodsReady clock; a placement that came after its reservation expired is undone."""
        engine = await self._enter(uow)
        await suspension.saw_placed(uow.conn, event.workload_id)
        if engine.mark_placed(event.workload_id):
            await uow.conn.execute("update workloads set placed = true where workload_id = $1", event.workload_id)
        elif self._expired(engine, event.workload_id) and event.workload_id in self.known:
            k = self.known[event.workload_id]
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
        """Releases the quota of every workload of a batch that ended, then runs the cycles once for all of them:
        with a cohort full, every release wakes all its inadmissible workloads, so a cycle round per end made a
        deep queue's releases quadratic (the chaos run's backlog stalled quota for minutes)."""
        engine = await self._enter(uows[0])
        touched: set[str] = set()
        retries = [(e, u) for e, u in zip(events, uows) if not ends_workload(e)]
        for event, uow in zip(events, uows):
            if not ends_workload(event):
                continue  # a failed run its backoff limit retries (below)
            if await suspension.ended_by_itself(uow.conn, event.workload_id):
                continue  # its suspended run ended by itself before it was stopped: done, nothing to resume
            reservation = engine.reservations.get(event.workload_id)
            if not engine.finish(event.workload_id):
                continue
            if reservation is not None:
                await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue,
                                             reason=event.type.removeprefix("Workload").lower()))
            self.known.pop(event.workload_id, None)
            self.told.pop(event.workload_id, None)
            touched.add(event.workload_id)
        if touched:
            await self.cycle(uows[-1], touched, {})
        for event, uow in retries:
            await self._retry(engine, event, uow)

    async def _retry(self, engine: QuotaEngine, event: WorkloadFailed, uow: UnitOfWork) -> None:
        """A failed run the workload's backoff limit retries: counts the failure (the next QuotaReserved carries
        it), releases the quota and requeues the workload with backoff, as after an eviction. A suspended run that
        failed has stopped: a resume queues it."""
        wid, now = event.workload_id, self.clock()
        if not await state.count_failure(uow.conn, wid, event.attempt):
            return  # counted already, or no longer quota's (finished, cancelled)
        if (k := self.known.get(wid)) is not None:
            self.known[wid] = k = dataclasses.replace(k, failures=event.attempt)
        if (resumed := await suspension.stopped(uow.conn, wid)) is not None:
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

    async def handle_workload_cancelled(self, event: WorkloadCancelled, uow: UnitOfWork) -> None:
        """Releases a cancelled workload's quota (reserved or pending), remembers it so it is never reserved again,
        and forwards the cancellation on the quota topic: after every QuotaReserved of it, so the scheduler learns
        of it in order. Once per workload: the scheduler's copy coming back on the placement topic changes nothing."""
        engine = await self._enter(uow)
        wid = event.workload_id
        reservation, had = engine.reservations.get(wid), engine.where(wid)
        if not await state.remember_cancelled(uow.conn, wid, event.cancelled_at, had):
            return
        if engine.finish(wid) and reservation is not None:
            await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="cancelled"))
        await suspension.forget(uow.conn, wid)  # a suspended workload cancelled: never queued again
        self.known.pop(wid, None)
        self.told.pop(wid, None)
        self.asked.pop(wid, None)
        await self.cycle(uow, {wid}, {})  # the freed quota may admit others
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4()}), topic=QUOTA)

    async def handle_workload_evicted(self, event: WorkloadEvicted, uow: UnitOfWork) -> None:
        """Releases an evicted workload's quota and requeues it with backoff (preemption, drained node)."""
        engine = await self._enter(uow)
        if (resumed := await suspension.stopped(uow.conn, event.workload_id)) is not None:
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

    async def handle_workload_suspended(self, event: WorkloadSuspended, uow: UnitOfWork) -> None:
        """Admission's copy: releases the workload's quota (reserved, QuotaReleased reason suspended) or drops it
        from its queue, records the suspension and forwards it on the quota topic, after every QuotaReserved of it.
        The scheduler's copy (``placed`` filled in) says whether a run is still to stop."""
        engine = await self._enter(uow)
        wid = event.workload_id
        if event.placed is not None:  # the scheduler's copy: no nodes held means nothing to wait for
            if not event.placed and await suspension.stopped(uow.conn, wid, event.suspended_at):
                await self._requeue_resumed(uow, engine, wid)
            return
        if await state.was_cancelled(uow.conn, wid):
            return
        reservation, had = engine.reservations.get(wid), engine.where(wid)
        if had is None and await uow.conn.fetchval("select state from workloads where workload_id = $1",
                                                   wid) == "finished":
            had = "finished"  # its run ended before the suspension reached quota
        placed = reservation is not None and reservation.placed
        if not await suspension.remember(uow.conn, wid, event.suspended_at, had, placed):
            return
        if engine.finish(wid) and reservation is not None:
            await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="suspended"))
        self.known.pop(wid, None)
        self.told.pop(wid, None)
        self.asked.pop(wid, None)
        await self.cycle(uow, {wid}, {})  # the freed quota may admit others
        if had != "finished":
            await suspension.mark_row(uow.conn, wid)
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4()}), topic=QUOTA)

    async def handle_workload_resumed(self, event: WorkloadResumed, uow: UnitOfWork) -> None:
        """Queues a resumed workload again as pending (a fresh attempt), now or once its suspended run stopped."""
        engine = await self._enter(uow)
        if await suspension.resume(uow.conn, event.workload_id, event.resumed_at) == "queue":
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
        if await state.was_cancelled(uow.conn, wid) or not await state.set_priority(uow.conn, wid, event.priority):
            return
        if (k := self.known.get(wid)) is not None:
            self.known[wid] = dataclasses.replace(k, priority=event.priority)
        if engine.set_priority(wid, event.priority, self.clock()) is not None:
            self.told.pop(wid, None)  # its position changed: say where it waits now
            await self.cycle(uow, {wid}, {})
        await uow.emit(event.model_copy(update={"event_id": uuid.uuid4()}), topic=QUOTA)

    async def _requeue_resumed(self, uow: UnitOfWork, engine: QuotaEngine, wid: str) -> None:
        """Puts a resumed workload at the back of its queue: its place before the suspension is not kept."""
        await suspension.forget(uow.conn, wid)
        now = self.clock()
        row = await suspension.requeue_row(uow.conn, wid, now)
        if row is None or engine.where(wid) is not None:
            return
        k = self.known[wid] = state.known_of(row)
        why = engine.add_workload(workload_of(wid, k.tenant.team, k.spec, k.priority, now, engine.config,
                                              k.excluded), now)
        await self.cycle(uow, {wid}, {} if why.reason is Reason.QUEUED else {wid: why})

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
            await state.exclude_flavor(uow.conn, event.workload_id, flavor)
        engine.add_workload(workload_of(event.workload_id, k.tenant.team, k.spec, k.priority, k.created_at,
                                        engine.config, k.excluded), self.clock())
        await uow.emit(QuotaReleased(cluster_queue=reservation.admission.cluster_queue, reason="flavor-unfit"))
        await self.cycle(uow, {event.workload_id}, {})

    # -- cycles ---------------------------------------------------------------------------------------

    async def cycle(self, uow: UnitOfWork, touched: set[str], whys: dict[str, Why]) -> None:
        """Runs cycles until nothing new is decided; emits and persists what changed."""
        engine, now = self.engine, self.clock()
        for _ in range(MAX_CYCLES):
            result = engine.run_cycle(now)
            self.kueue.cycled(uow, result, engine, now)
            emitted = len(uow.emitted)
            touched |= await publish(result, engine, self.known, uow, now, whys)
            self.asked.update((e.workload_id, (now, e)) for e in uow.emitted[emitted:]
                              if isinstance(e, PreemptionRequested) and e.workload_id in engine.evicting)
            if not (result.admitted or result.expired or any(p.step_aside for p in result.pending)):
                break
        infos = engine.pending_infos(whys, now)  # each queue ordered once, however many of it stepped aside
        for wid, why in whys.items():
            if wid in infos:
                await announce_pending(engine, self.known, uow, now, wid, why, self.told, infos[wid])
        await state.persist(uow.conn, engine, touched, now, whys)
        for wid in touched:
            if engine.where(wid) is None:
                self.known.pop(wid, None)
        self._report_depth(engine)

    def _report_depth(self, engine: QuotaEngine) -> None:
        depth = sum(len(q) for q in engine.pending.values()) + len(engine.unrouted)
        if self.metrics is not None and depth != self._depth:
            self.metrics.queue_depth.add(depth - self._depth, {"service": "quota"})
        self._depth = depth

    async def tick(self, namespace: str) -> bool:
        """Timer: reloads a newer config, then runs cycles (backoff ends, pods-ready expiry); True if it emitted."""
        async with self.lock, self.pool.acquire() as conn:
            uow = UnitOfWork(conn=conn, producer="quota", namespace=namespace)
            try:
                async with conn.transaction():
                    if self.fence is not None:
                        await self.fence(conn)
                    touched: set[str] = set()
                    if self.engine is None:
                        await self.rebuild(conn)
                    elif await state.config_version(conn) != self.version:
                        touched = await self.reload(conn)
                    await self._ask_again(uow, self.engine, self.clock())
                    await self.cycle(uow, touched, {})
            except BaseException:
                self.engine = None
                raise
        return bool(uow.emitted)

    async def _ask_again(self, uow: UnitOfWork, engine: QuotaEngine, now: float) -> None:
        """Repeats every eviction request asked PREEMPTION_RETRY_S ago whose victim still holds its quota.

        A request is a message, not a state: the connector drops one that reaches it before the victim's
        WorkloadPlaced (another topic, so no order between the two), and the engine never asks twice for a victim
        it remembers in ``evicting``; the preemptor would wait, and its queue behind it, until the victim ended.
        Asking again is harmless: a connector that already evicted the victim has nothing left to evict.
        """
        for victim, (asked_at, request) in list(self.asked.items()):
            if victim not in engine.evicting:
                del self.asked[victim]  # evicted or finished: answered
            elif now - asked_at >= PREEMPTION_RETRY_S:
                log.info("%s still holds its quota %.0fs after its eviction was requested; asking again", victim,
                         now - asked_at)
                k, fresh = self.known.get(victim), {"event_id": uuid.uuid4(), "occurred_at": datetime.now(UTC)}
                again = await uow.emit(request.model_copy(update=fresh), trace=k.trace if k else None)
                self.asked[victim] = (now, again)

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
                            "WorkloadSucceeded": self.handle_workload_finished_batch,
                            "WorkloadFailed": self.handle_workload_finished_batch})
