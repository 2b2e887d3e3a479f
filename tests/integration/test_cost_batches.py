"""Cost reporting handles a poll batch's placements and run ends as one run, on real PostgreSQL (no Kafka).

The same events handled one by one and as one run must leave the same ledger (totals per node-hour and party) and
emit accruals that sum the same; the run re-books each node-hour it touched once, so it writes far fewer
correction rows than one-by-one handling, which re-booked a busy node-hour once per event.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from libs.events import Resources
from libs.localinfra.databases import create_database
from libs.platform import store
from libs.platform.unit_of_work import UnitOfWork
from services.cost_reporting.handlers import CostHandlers
from tests.integration.test_cost_reporting import CPU, NODES, T0, Run, all_events, ledger_totals, workload_events

pytestmark = pytest.mark.integration
SERVICE_DIR = Path(__file__).parents[2] / "services" / "cost_reporting"


def busy_hour() -> list:
    """Thirty short runs on one CPU node inside one hour, interleaved as a lifecycle topic would carry them."""
    events = []
    for i in range(30):
        start = T0 + timedelta(minutes=i)
        run = Run(CPU, 1, Resources(cpu_milli=1000 + 100 * i, memory_mib=1024), start, start + timedelta(minutes=20))
        events += workload_events(f"short-{i:02d}", "acme", "nlp" if i % 2 else "vision", run)
    placed = [e for e in events if e.type == "WorkloadPlaced"]
    return placed + sorted((e for e in events if e.type != "WorkloadPlaced"), key=lambda e: e.occurred_at)


async def fresh_pool(postgres_admin_dsn: str):
    pool = await store.create_pool(await create_database(postgres_admin_dsn), "cost_reporting")
    await store.migrate(pool, "cost_reporting", SERVICE_DIR)
    handlers = CostHandlers()
    async with pool.acquire() as conn, conn.transaction():
        for node in NODES:
            event = node.event()
            await handlers.handle_node_inventoried(event, UnitOfWork(conn=conn, producer="cost-reporting",
                                                                     namespace="t", cause=event))
    return pool


async def handle(pool, events: list, *, together: bool) -> list:
    """Handles ``events`` in one transaction, as one run or one at a time; returns what was emitted."""
    handlers, emitted = CostHandlers(), []
    async with pool.acquire() as conn, conn.transaction():
        uows = [UnitOfWork(conn=conn, producer="cost-reporting", namespace="t", cause=e) for e in events]
        if together:
            await handlers.handle_workload_events(events, uows)
        else:
            for event, uow in zip(events, uows):
                await handlers.handle_workload_event(event, uow)
        for uow in uows:
            emitted += uow.emitted
    return emitted


async def rows_and_totals(pool) -> tuple[int, dict]:
    async with pool.acquire() as conn:
        return await conn.fetchval("select count(*) from cost_reporting.ledger"), await ledger_totals(conn)


def accrued(emitted: list) -> Counter:
    sums: Counter = Counter()
    for event in emitted:
        if event.type == "CostAccrued":
            sums[(event.node_id, event.start, event.workload_id)] += event.amount_micros
    return +sums


@pytest.mark.parametrize("events", [all_events, busy_hour], ids=["mixed-workloads", "busy-hour"])
async def test_a_run_books_what_one_by_one_books_with_one_correction_per_node_hour(postgres_admin_dsn, events):
    one_by_one, together = await fresh_pool(postgres_admin_dsn), await fresh_pool(postgres_admin_dsn)
    try:
        alone_emitted = await handle(one_by_one, events(), together=False)
        run_emitted = await handle(together, events(), together=True)
        (alone_rows, alone_totals), (run_rows, run_totals) = (await rows_and_totals(one_by_one),
                                                             await rows_and_totals(together))
        assert run_totals == alone_totals and run_totals
        assert accrued(run_emitted) == accrued(alone_emitted)
        async with together.acquire() as conn:  # one booking per node-hour: no corrections at all
            kinds = {r["kind"] for r in await conn.fetch("select distinct kind from cost_reporting.ledger")}
            assert kinds == {"accrual"}
        assert run_rows < alone_rows
    finally:
        await one_by_one.close()
        await together.close()


async def test_a_run_redelivered_or_repeated_inside_itself_books_nothing_twice(postgres_admin_dsn):
    pool = await fresh_pool(postgres_admin_dsn)
    try:
        events = busy_hour()
        await handle(pool, events + events[:10], together=True)  # a run that holds ten events twice
        rows, totals = await rows_and_totals(pool)
        assert await handle(pool, events, together=True) == []  # all of it again: no fact is new, nothing moves
        assert await rows_and_totals(pool) == (rows, totals)
        alone = await fresh_pool(postgres_admin_dsn)
        try:
            await handle(alone, events, together=False)
            assert (await rows_and_totals(alone))[1] == totals
        finally:
            await alone.close()
    finally:
        await pool.close()


async def test_a_runs_timeline_keeps_order_and_gives_tenantless_events_their_workloads_tenant(postgres_admin_dsn):
    """One statement writes the run's timeline: an event without a tenant takes its workload's from an earlier
    event of the same run, or from the stored rows; rows keep the run's order."""
    pool = await fresh_pool(postgres_admin_dsn)
    try:
        placed, running, succeeded = workload_events("w", "acme", "nlp", Run(CPU, 1, Resources(cpu_milli=500),
                                                                             T0, T0 + timedelta(minutes=5)))
        bare = {"tenant": None}
        other = placed.model_copy(update={"workload_id": "other", "event_id": uuid.uuid4(), **bare})
        first = [placed, running.model_copy(update=bare), other]
        await handle(pool, first, together=True)
        await handle(pool, [succeeded.model_copy(update=bare)], together=True)
        async with pool.acquire() as conn:
            rows = await conn.fetch("select workload_id, type, org, team from cost_reporting.workload_events "
                                    "order by seq")
        assert [tuple(r) for r in rows] == [("w", "WorkloadPlaced", "acme", "nlp"),
                                            ("w", "WorkloadRunning", "acme", "nlp"),
                                            ("other", "WorkloadPlaced", None, None),
                                            ("w", "WorkloadSucceeded", "acme", "nlp")]
    finally:
        await pool.close()
