"""The quota engine inside the service: its state, its rebuilds from Postgres, and the cycles that turn it
into events (after every handler, and on the timer).

The engine lives in memory and is changed optimistically inside each handler's transaction; the rows it
touched are written in that same transaction. If the transaction rolls back, the engine is marked stale
and rebuilt from Postgres before the next use. One lock serialises handlers and the timer (backoff ends,
waitForPodsReady expiry, config reloads). The handlers themselves are in handlers.py and lifecycle.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from libs.events import PreemptionRequested
from libs.platform.unit_of_work import UnitOfWork
from libs.quota import QuotaEngine, Why
from libs.quota.loader import load_config
from services.quota.mapping import workload_of
from services.quota.metrics import QuotaMetrics
from services.quota.publish import announce_pending, publish
from services.quota.state import Known
from services.quota.store import PostgresQuotaStore, QuotaStore

log = logging.getLogger("batchyard.quota")
MAX_CYCLES = 5000  # per event: one head per cluster queue per cycle, so this bounds one burst of admissions
# A victim still holding quota this long after quota asked for its eviction is asked for again (see _ask_again).
PREEMPTION_RETRY_S = 5.0


class QuotaCycles:
    """The quota engine, its workloads' details, their store, and the cycles that run the engine."""

    def __init__(self, pool: asyncpg.Pool | None, clock: Callable[[], float] = time.time, metrics=None,
                 fence: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
                 store: QuotaStore | None = None):
        self.pool = pool  # the timer's and start-up's connections (handlers run on their transaction's)
        self.store: QuotaStore = store or PostgresQuotaStore()  # the rows the engine is rebuilt from
        self.clock = clock
        self.metrics = metrics
        self.fence = fence  # raises inside a transaction unless this instance still holds the leader lock
        self.lock = asyncio.Lock()  # one writer of the engine at a time (handlers and the timer)
        self._holder: asyncpg.Connection | None = None  # the connection whose transaction holds ``lock``
        self.engine: QuotaEngine | None = None  # None: stale, rebuild from Postgres before use
        self.known: dict[str, Known] = {}  # workload id → tenant, spec, trace (reserved and pending)
        self.version = 0  # config version in force
        self.told: dict[str, tuple[str, str]] = {}  # workload id → last WorkloadPending (reason, message)
        self.asked: dict[str, tuple[float, PreemptionRequested]] = {}  # victim id → when and how quota last asked
        self._depth = 0  # last queue depth reported
        self.kueue = QuotaMetrics(lambda: self.engine)  # Kueue-named metrics (services/quota/metrics.py)

    # -- engine life cycle --------------------------------------------------------------------------

    async def rebuild(self, conn: asyncpg.Connection) -> None:
        """Rebuilds the engine from the stored config and workload rows."""
        latest = await self.store.latest_config(conn)
        if latest is None:
            raise RuntimeError("no quota config stored")
        self.version = latest[0]
        self.engine, self.known = await self.store.load_engine(conn, latest[1], self.clock())
        self.told.clear()  # a rolled-back transaction may have noted a WorkloadPending it never sent: tell again
        log.info("quota engine rebuilt: config v%d, %d reserved, %d pending", self.version,
                 len(self.engine.reservations), len(self.known) - len(self.engine.reservations))

    async def reload(self, conn: asyncpg.Connection) -> set[str]:
        """Hot reload: ``engine.apply_config`` keeps every reservation, pending workload and backoff.

        Pending workloads get their flavor eligibility recomputed for the new flavors and queues;
        returns their ids (their cluster queue may have changed).
        """
        version, text = await self.store.latest_config(conn)
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
                await self.store.store_first_config(conn, text, source)
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
        await self.store.persist(uow.conn, engine, touched, now, whys)
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
                    elif await self.store.config_version(conn) != self.version:
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
