"""Quota as a batch service (``ServiceDefinition(batch=True)``) on a real PostgreSQL: a poll batch is one
transaction through the consumer, so several quota handlers run on one connection.

Quota serialises its handlers and its timer with one lock, held from a handler's start to its transaction's end.
Before batches, a second handler in the same transaction waited for a lock only the commit would release: the batch
never finished. Now the transaction holds the lock once, the accepted workloads of a batch are queued together and
share one round of cycles, and the timer gets the lock back after the commit.

A batch's runs of acceptances, placements and ends read and write quota's rows set-wise (a fixed number of store
calls per run) and leave the rows and events one-by-one handling leaves.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from libs.events import (Tenant, WorkloadAccepted, WorkloadCancelled, WorkloadFailed, WorkloadPlaced,
                         WorkloadSucceeded, WorkloadSuspended, decode, encode)
from libs.platform import store, telemetry
from libs.platform.consumer import Consumer, Record
from services.quota.app import DEFINITION
from services.quota.handlers import QuotaHandlers
from services.quota.store import PostgresQuotaStore

from tests.integration import test_quota_never_stuck
from tests.integration.test_quota_never_stuck import Clock, accepted
from tests.integration.test_quota_service import config
from tests.support.quota_store import CountingQuotaStore

pytestmark = pytest.mark.integration

quota = test_quota_never_stuck.quota  # the same fixture: quota on a fresh schema, config(16, 16)
ALLOWED = frozenset({"WorkloadAccepted", "WorkloadSucceeded", "WorkloadFailed", "WorkloadCancelled", "WorkloadPlaced",
                     "WorkloadSuspended"})


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


# reservations not placed within a minute are released and requeued with backoff (Kueue's waitForPodsReady)
READY = config(16, 16).replace("enable: false", "enable: true, timeout: 60s")
AT = datetime(2026, 1, 1, tzinfo=UTC)


async def quota_on(database_url: str, schema: str, clock: Clock) -> tuple[QuotaHandlers, CountingQuotaStore]:
    pool = await store.create_pool(database_url, schema, size=2)
    await store.migrate(pool, schema, DEFINITION.service_dir)
    counted = CountingQuotaStore(PostgresQuotaStore())
    service = QuotaHandlers(pool, clock=clock, store=counted)
    await service.ensure_config(READY, source="test")
    return service, counted


def tenant(wid: str) -> Tenant:
    return Tenant(org="acme", team="vision" if wid.startswith("v") else "nlp")


def placed(wid: str) -> WorkloadPlaced:
    return WorkloadPlaced(workload_id=wid, tenant=tenant(wid), cluster="dc1", assignments=(),
                          spec=accepted(wid, tenant(wid).team).spec)


def succeeded(wid: str) -> WorkloadSucceeded:
    return WorkloadSucceeded(workload_id=wid, tenant=tenant(wid), cluster="dc1")


async def rows_of(quota: QuotaHandlers) -> tuple:
    """Quota's rows (workloads in arrival order, suspensions, cancellations) and the events it said, in order."""
    async with quota.pool.acquire() as conn:
        workloads = await conn.fetch(
            "select workload_id, state, placed, cluster_queue, priority, spec, admission, reserved_at, requeue_at, "
            "attempts, pending_reason, pending_message, position, failures, flavor from workloads order by seq")
        suspended = await conn.fetch("select workload_id, had, stopped, placed from suspended_workloads order by 1")
        cancelled = await conn.fetch("select workload_id, had from cancelled_workloads order by 1")
        said = await conn.fetch("select value from outbox order by seq")
    events = [(e.type, e.workload_id, getattr(e, "reason", None)) for e in (decode(r["value"]) for r in said)]
    return [tuple(r) for r in workloads], [tuple(r) for r in suspended], [tuple(r) for r in cancelled], events


async def test_runs_of_acceptances_placements_and_ends_are_stored_set_wise_as_one_by_one_stores_them(database_url):
    clock = Clock()
    batched, calls = await quota_on(database_url, "quota", clock)
    alone, _ = await quota_on(database_url, "quota_alone", clock)
    batch_consumer, alone_consumer = consumer_of(batched), consumer_of(alone)

    async def both(*batch) -> dict[str, int]:
        """Handles ``batch`` as one poll batch on one side and record by record on the other; returns the batched
        side's store calls (a batch that failed and was redone one by one would show one per record)."""
        calls.calls.clear()
        outcomes = await asyncio.wait_for(batch_consumer.process_batch(records(*batch)), timeout=30)
        assert outcomes == ["handled"] * len(batch)
        for record in records(*batch):
            assert await alone_consumer.process(record) == "handled"
        return dict(calls.calls)

    try:
        await both(WorkloadCancelled(workload_id="gone", tenant=tenant("v"), cancelled_at=AT), accepted("old", "nlp"))
        # cancelled first, resubmitted, and two copies of v1: four new workloads; n1 waits (16 + 16 GPUs)
        assert await both(accepted("v0", "vision"), accepted("gone", "vision"), accepted("old", "nlp"),
                          accepted("v1", "vision"), accepted("v1", "vision"), accepted("n0", "nlp"),
                          accepted("n1", "nlp")) == {"cancelled_among": 1, "insert_workloads": 1, "persist": 1}
        # old's run is suspended while placed, so it stops only when it ends; n1 gets old's quota
        await both(placed("v0"), placed("old"), WorkloadSuspended(workload_id="old", tenant=tenant("old"),
                                                                  suspended_at=AT))
        clock.now += 61  # v1, n0 and n1 were never placed: their reservations expire
        await batched.tick("t")
        await alone.tick("t")
        # v1's placement comes too late; old's run ends by itself (twice); v0 ends; n0 (pending) fails for good
        assert await both(placed("v1"), placed("v0"), succeeded("old"), succeeded("old"), succeeded("v0"),
                          WorkloadFailed(workload_id="n0", tenant=tenant("n0"), cluster="dc1", reason="OOMKilled")) \
            == {"saw_placed": 1, "mark_placed": 1, "ended_by_themselves": 1, "persist": 1}

        workloads, suspended, cancelled, events = await rows_of(batched)
        one_by_one = await rows_of(alone)
        assert (workloads, suspended, cancelled) == one_by_one[:3]
        assert sorted(events) == sorted(one_by_one[3])  # a run's cycle may decide its admissions in another order
        assert [(w[0], w[1]) for w in workloads] == [("old", "finished"), ("v0", "finished"), ("v1", "pending"),
                                                     ("n0", "finished"), ("n1", "pending")]
        assert suspended == [] and ("PreemptionRequested", "v1", "PodsReadyTimeout") in events
        held = {w[0]: batched.engine.where(w[0]) for w in workloads}
        async with batched.pool.acquire() as conn:
            await batched.rebuild(conn)  # the rows the runs wrote give back the engine they changed
        assert {wid: batched.engine.where(wid) for wid in held} == held
    finally:
        await batched.pool.close()
        await alone.pool.close()
