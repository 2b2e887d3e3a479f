"""The hour closer: books idle node-hours, bills running work by the hour, reprices, and emits daily rollups.

Event time, not wall time, closes hours: ``clock.event_time`` is the latest occurred_at of any lifecycle
event seen. Hour H closes once event_time - grace >= H + 1h. Closing H books every node present in H
(inventoried by then, not removed before it) from scratch or to its new truth, with every still-running
allocation extended to the end of H. Each step runs in its own transaction under the ledger lock, so a
SIGKILL at any instant leaves a ledger in which every booked node-hour still sums to its price.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from libs.cost.usage import HOUR, hour_floor
from libs.events import CostRolledUp
from libs.platform.periodic import every
from libs.platform.unit_of_work import UnitOfWork
from services.cost_reporting import repository as repo
from services.cost_reporting.booking import rebook


ROLLUP_SQL = {  # dimension -> the key expression over ledger rows (idle rows roll up as '(idle)')
    "org": "case when workload_id is null then '(idle)' else org end",
    "team": "case when workload_id is null then '(idle)' else org || '/' || team end",
    "queue": "case when workload_id is null then '(idle)' else queue end",
    "cluster": "cluster",
    "gpu_model": "case when gpu_model = '' then '(none)' else gpu_model end",
}


class Closer:
    """Advances the ledger through event time; one instance per service process (all serialise on the lock)."""

    def __init__(self, pool: asyncpg.Pool, namespace: str, wake, *, grace: timedelta, period_s: float,
                 max_hours_per_tick: int = 24) -> None:
        self.pool, self.namespace, self.wake = pool, namespace, wake
        self.grace, self.period_s, self.max_hours = grace, period_s, max_hours_per_tick

    async def run(self) -> None:
        """Ticks every ``period_s`` until cancelled; a failed tick is picked up where it stopped by the next."""
        await every(self.period_s, self.tick, name="cost closer tick")

    async def tick(self) -> None:
        """Runs one round: reprice, book pending node-hours, close due hours, emit rollups of closed days."""
        emitted = await self._step(self.reprice)
        emitted |= await self._step(self.book_pending)
        for _ in range(self.max_hours):
            closed = await self._step(self.close_next_hour)
            emitted |= closed
            if not closed:
                break
        emitted |= await self._step(self.emit_rollups)
        if emitted:
            self.wake()

    async def _step(self, step) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await repo.lock_ledger(conn)
            return bool(await step(UnitOfWork(conn=conn, producer="cost-reporting", namespace=self.namespace)))

    async def close_next_hour(self, uow: UnitOfWork) -> bool:
        """Books the next due hour for every present node; returns False when no hour is due."""
        clock = await repo.clock(uow.conn)
        if clock["event_time"] is None:
            return False
        due = hour_floor(clock["event_time"] - self.grace)
        hour = clock["closed_through"] or await uow.conn.fetchval(
            "select date_trunc('hour', min(first_seen)) from nodes")
        if hour is None or hour >= due:
            return False
        await uow.conn.execute("update clock set closed_through = $1 where id = 1", hour + HOUR)
        nodes = await uow.conn.fetch(
            "select node_id from nodes where date_trunc('hour', first_seen) <= $1 and "
            "(removed_at is null or date_trunc('hour', removed_at) >= $1)", hour)
        await rebook(uow, [(r["node_id"], hour) for r in nodes], f"close:{hour.isoformat()}")
        return True

    async def reprice(self, uow: UnitOfWork) -> bool:
        """Re-books every booked node-hour a newly recorded price version can change (corrections)."""
        clock = await repo.clock(uow.conn)
        versions = await uow.conn.fetch("select * from price_versions where revision > $1 order by revision",
                                        clock["priced_revision"])
        if not versions:
            return False
        node_hours: set = set()
        for v in versions:
            rows = await uow.conn.fetch(
                "select distinct l.node_id, l.hour from ledger l join nodes n using (node_id) where n.cluster = $1 "
                "and n.pool = $2 and n.instance_type = $3 and l.hour >= $4", v["cluster"], v["pool"],
                v["instance_type"], hour_floor(v["effective_from"]))
            node_hours |= {(r["node_id"], r["hour"]) for r in rows}
        last = versions[-1]["revision"]
        await uow.conn.execute("update clock set priced_revision = $1 where id = 1", last)
        return bool(await rebook(uow, node_hours, f"price:{last}"))

    async def book_pending(self, uow: UnitOfWork) -> bool:
        """Books queued node-hours: those that lacked a node or a price, and closed hours of late nodes."""
        rows = await uow.conn.fetch("select u.node_id, u.hour from pending_node_hours u join nodes n "
                                    "using (node_id) order by 1, 2 limit 5000")
        if not rows:
            return False
        source = f"pending:{datetime.now(UTC).isoformat()}"  # unique per round, so its row ids are new
        return bool(await rebook(uow, [(r["node_id"], r["hour"]) for r in rows], source))

    async def emit_rollups(self, uow: UnitOfWork) -> bool:
        """Emits CostRolledUp for each changed total of every dirty day that has closed."""
        clock = await repo.clock(uow.conn)
        if clock["closed_through"] is None:
            return False
        days = [r["day"] for r in await uow.conn.fetch(
            "select day from rollup_days where dirty and day + 1 <= $1::timestamptz at time zone 'UTC' order by day",
            clock["closed_through"])]
        sent = 0
        for day in days:
            sent += await self._roll_day(uow, day)
        await uow.conn.execute("update rollup_days set dirty = false where day = any($1::date[])", days)
        return sent > 0

    async def _roll_day(self, uow: UnitOfWork, day) -> int:
        totals = await day_totals(uow.conn, day)
        known = {(r["dimension"], r["rollup_key"]): r for r in await uow.conn.fetch(
            "select * from rollups where day = $1", day)}
        sent = 0
        for (dimension, key), amount in sorted(totals.items()):
            before = known.get((dimension, key))
            if before is not None and before["amount_micros"] == amount:
                continue
            revision = 1 if before is None else before["revision"] + 1
            await uow.conn.execute(
                "insert into rollups(dimension, rollup_key, day, amount_micros, revision) values ($1,$2,$3,$4,$5) "
                "on conflict (dimension, rollup_key, day) do update set amount_micros = excluded.amount_micros, "
                "revision = excluded.revision", dimension, key, day, amount, revision)
            await uow.emit(CostRolledUp(dimension=dimension, rollup_key=key, day=day, amount_micros=amount,
                                        revision=revision))
            sent += 1
        return sent


async def day_totals(conn: asyncpg.Connection, day) -> dict[tuple[str, str], int]:
    """Returns (dimension, key) → net micros of one UTC day, idle cost per pool included."""
    out: dict[tuple[str, str], int] = {}
    for dimension, expr in ROLLUP_SQL.items():
        for r in await conn.fetch(f"select {expr} as k, sum(amount_micros) as a from ledger where "
                                  "(hour at time zone 'UTC')::date = $1 group by 1", day):
            out[(dimension, r["k"])] = int(r["a"])
    for r in await conn.fetch("select cluster || '/' || pool as k, sum(amount_micros) as a from ledger where "
                              "workload_id is null and (hour at time zone 'UTC')::date = $1 group by 1", day):
        out[("pool-idle", r["k"])] = int(r["a"])
    return out
