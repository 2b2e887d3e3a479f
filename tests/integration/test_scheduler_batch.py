"""The scheduler's batch of reservations on a real PostgreSQL, through the batch consumer: a poll batch's run of
QuotaReserved events is stored and placed in one go, leaves the rows one-by-one handling leaves, and a rebuild
from those rows gives the snapshot the handlers hold (no Kafka needed)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from libs.events import decode, encode
from libs.placement import PlacementPolicy
from libs.platform import store, telemetry
from libs.platform.consumer import Consumer, Record
from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.repository import load_placer

from tests.integration.test_scheduler_rebuild import SERVICE_DIR, state_of

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "scheduler_service"))
from scheduler_builders import inventoried, reserved  # noqa: E402

pytestmark = pytest.mark.integration
ALLOWED = frozenset({"NodeInventoried", "QuotaReserved"})


async def scheduler_on(database_url: str, schema: str) -> tuple[SchedulerHandlers, Consumer]:
    pool = await store.create_pool(database_url, schema)
    await store.migrate(pool, schema, SERVICE_DIR)

    async def load():
        return await load_placer(pool, PlacementPolicy(), clock=lambda: 100.0, preemption=True, min_runtime_s=0)
    handlers = SchedulerHandlers(await load(), load=load)
    consumer = Consumer(service="scheduler", namespace="t", pool=pool, router=handlers.router(), allowed=ALLOWED,
                        max_attempts=2, backoff_s=0.01, metrics=telemetry.ServiceMetrics("scheduler"),
                        on_commit=lambda: None)
    return handlers, consumer


def records(events) -> list[Record]:
    return [Record(topic="t.quota", partition=0, offset=i, key=(e.workload_id or e.node_id).encode(),
                   value=encode(e), headers={}) for i, e in enumerate(events)]


async def rows(pool) -> tuple:
    async with pool.acquire() as conn:
        pending = await conn.fetch("select workload_id, seq, reservation, last_reason, victims from pending "
                                   "order by workload_id")
        placed = await conn.fetch("select workload_id, cluster, bound, priority, started_at, tenant from placements "
                                  "order by workload_id")
        said = await conn.fetch("select value from outbox order by seq")
    words = sorted((e.type, e.workload_id, getattr(e, "reason", None)) for e in (decode(r["value"]) for r in said))
    return [tuple(r) for r in pending], [tuple(r) for r in placed], words


async def test_a_batch_of_reservations_leaves_the_rows_one_by_one_leaves_and_rebuilds_the_same(database_url):
    nodes = [inventoried(f"n{i}", gpus=8, rack=f"r{i // 2}") for i in range(4)]
    reservations = [reserved("a").pods("w", 3, gpu=2), reserved("b").pods("w", 2, gpu_milli=300),
                    reserved("c").pods("w", 2, gpu=8), reserved("w").pods("w", 1, gpu=8),
                    reserved("w").pods("w", 1, gpu=4), reserved("huge").pods("big", 1, gpu=16),
                    reserved("d").pods("w", 1, gpu=8), reserved("waits").pods("w", 1, gpu=8),
                    reserved("waits-too").pods("w", 1, gpu=8)]
    events = [r.build() for r in reservations]
    batched, batch_consumer = await scheduler_on(database_url, "scheduler")
    alone, alone_consumer = await scheduler_on(database_url, "scheduler_alone")
    stored, calls = batched.store.add_pending_many, []

    async def counted(conn, pending):  # a failed batch is redone one by one: this tells the two apart
        calls.append(len(pending))
        return await stored(conn, pending)
    batched.store.add_pending_many = counted
    try:
        assert await batch_consumer.process_batch(records(nodes)) == ["handled"] * 4
        outcomes = await asyncio.wait_for(batch_consumer.process_batch(records(events)), timeout=60)
        assert outcomes == ["handled"] * len(events) and calls == [len(events) - 1]  # one statement, w once
        for record in records(nodes + events[:3] + events[4:]):  # the later reservation of w, as quota meant it
            assert await alone_consumer.process(record) == "handled"

        pending, placed, words = await rows(batch_consumer.pool)
        assert (pending, placed, words) == await rows(alone_consumer.pool)
        assert [p[0] for p in placed] == ["a", "b", "c", "w"] and [p[0] for p in pending] == ["d", "waits",
                                                                                              "waits-too"]
        assert ("WorkloadUnschedulable", "huge", "never-fits") in words
        assert [w for w in words if w[1] == "waits-too"] == [("WorkloadUnschedulable", "waits-too",
                                                              "InsufficientGpu")]
        assert state_of(await batched.current()) == state_of(alone.placer)
        assert state_of(await load_placer(batch_consumer.pool, PlacementPolicy(), clock=lambda: 100.0,
                                          preemption=True, min_runtime_s=0)) == state_of(batched.placer)
    finally:
        await batch_consumer.pool.close()
        await alone_consumer.pool.close()
