"""Quota as a batch service (``ServiceDefinition(batch=True)``) on a real PostgreSQL: a poll batch is one
transaction through the consumer, so several quota handlers run on one connection.

Quota serialises its handlers and its timer with one lock, held from a handler's start to its transaction's end.
Before batches, a second handler in the same transaction waited for a lock only the commit would release: the batch
never finished. Now the transaction holds the lock once, the accepted workloads of a batch are queued together and
share one round of cycles, and the timer gets the lock back after the commit.
"""

from __future__ import annotations

import asyncio

import pytest

from libs.events import WorkloadAccepted, WorkloadSucceeded, decode, encode
from libs.platform import telemetry
from libs.platform.consumer import Consumer, Record
from services.quota.handlers import QuotaHandlers

from tests.integration import test_quota_never_stuck
from tests.integration.test_quota_never_stuck import accepted

pytestmark = pytest.mark.integration

quota = test_quota_never_stuck.quota  # the same fixture: quota on a fresh schema, config(16, 16)
ALLOWED = frozenset({"WorkloadAccepted", "WorkloadSucceeded", "WorkloadFailed"})


def consumer_of(quota: QuotaHandlers) -> Consumer:
    return Consumer(service="quota", namespace="t", pool=quota.pool, router=quota.router(), allowed=ALLOWED,
                    max_attempts=2, backoff_s=0.01, metrics=telemetry.ServiceMetrics("quota"), on_commit=lambda: None)


def records(*events) -> list[Record]:
    return [Record(topic="t.admission", partition=0, offset=i, key=e.workload_id.encode(), value=encode(e),
                   headers={}) for i, e in enumerate(events)]


async def reserved(quota: QuotaHandlers) -> list[str]:
    async with quota.pool.acquire() as conn:
        rows = await conn.fetch("select value from outbox where position('\"QuotaReserved\"'::bytea in value) > 0 "
                                "order by seq")
    return [decode(r["value"]).workload_id for r in rows]


async def test_a_batch_of_handlers_runs_in_one_transaction_and_releases_the_lock(quota):
    first: list[WorkloadAccepted] = [accepted(f"v{i}", "vision") for i in range(3)]
    later = [accepted("v3", "vision"), accepted("n0", "nlp")]
    batch = records(*first, WorkloadSucceeded(workload_id="v0", cluster="dc1"), *later)
    # without a lock held per transaction, the second handler waits for the first's commit: forever
    outcomes = await asyncio.wait_for(consumer_of(quota).process_batch(batch), timeout=30)
    assert outcomes == ["handled"] * 6
    assert not quota.lock.locked()
    # 16 nominal + 16 borrowed GPUs of 8 each: v0..v3 and n0 all fit once v0 has finished
    assert sorted(await reserved(quota)) == ["n0", "v0", "v1", "v2", "v3"]
    assert set(quota.engine.reservations) == {"v1", "v2", "v3", "n0"}
    await asyncio.wait_for(quota.tick("t"), timeout=10)  # the timer gets the lock back


async def test_a_failing_batch_rolls_back_rebuilds_and_is_redone_one_by_one(quota):
    consumer = consumer_of(quota)
    calls = {"n": 0}
    original = quota.handle_workload_finished

    async def fail_once(event, uow):  # the first call (inside the batch) fails; the redo succeeds
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a handler bug seen once")
        await original(event, uow)

    router = quota.router()
    consumer.router = type(router)(handlers={**router.handlers, "WorkloadSucceeded": fail_once},
                                   ignored=router.ignored,  # WorkloadSucceeded through fail_once, in the batch too
                                   batch_handlers={k: v for k, v in router.batch_handlers.items()
                                                   if k != "WorkloadSucceeded"})
    batch = records(accepted("v0", "vision"), accepted("v1", "vision"),
                    WorkloadSucceeded(workload_id="v0", cluster="dc1"), accepted("v2", "vision"))
    outcomes = await asyncio.wait_for(consumer.process_batch(batch), timeout=30)
    assert outcomes == ["handled"] * 4
    assert not quota.lock.locked()
    # nothing of the failed batch stayed: each workload reserved exactly once, by the redo
    assert sorted(await reserved(quota)) == ["v0", "v1", "v2"]
    assert set(quota.engine.reservations) == {"v1", "v2"}
    async with quota.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from processed_events") == 4
