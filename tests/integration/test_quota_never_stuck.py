"""Quota never leaves work stuck after a lost message or a rolled-back transaction: the quota service on a real
PostgreSQL, driven event by event with a hand-set clock.

1. It asks again for an eviction nobody carried out: the connector drops a PreemptionRequested that reaches it
   before the victim's WorkloadPlaced (two topics, no order between them), so a single request left the
   preemptor, and every workload queued behind it, waiting until the victim ended (the SIGKILL-mid-burst flake).
2. A WorkloadPending noted in a transaction that rolled back is still sent once the event is handled again.
"""

from __future__ import annotations

import pytest

from libs.events import PodSet, Resources, Tenant, WorkloadAccepted, WorkloadEvicted, WorkloadSpec
from libs.platform import store
from libs.platform.unit_of_work import UnitOfWork
from services.quota.app import DEFINITION
from services.quota.cycles import PREEMPTION_RETRY_S
from services.quota.handlers import QuotaHandlers

from tests.integration.test_quota_service import config

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def accepted(wid: str, team: str) -> WorkloadAccepted:
    spec = WorkloadSpec(name=wid, pod_sets=(PodSet(name="train", count=1, gpu_model="A100",
                                                   requests=Resources(cpu_milli=8000, memory_mib=65536, gpu=8)),))
    return WorkloadAccepted(workload_id=wid, tenant=Tenant(org="acme", team=team), spec=spec)


async def handle(quota: QuotaHandlers, handler, event) -> list:
    """Runs one handler in its transaction, as the consumer does; returns what it emitted."""
    async with quota.pool.acquire() as conn:
        uow = UnitOfWork(conn=conn, producer="quota", namespace="t", cause=event)
        try:
            async with conn.transaction():
                await handler(event, uow)
        except BaseException:
            await uow.run_on_rollback()
            raise
        await uow.run_after_commit()
    return uow.emitted


REQUESTS = "select count(*) from outbox where position('\"PreemptionRequested\"'::bytea in value) > 0"


async def tick(quota: QuotaHandlers) -> int:
    """Runs the timer once; returns how many PreemptionRequested it emitted."""
    async with quota.pool.acquire() as conn:
        before = await conn.fetchval(REQUESTS)
        await quota.tick("t")
        return await conn.fetchval(REQUESTS) - before


@pytest.fixture
async def quota(database_url):
    pool = await store.create_pool(database_url, "quota", size=2)
    await store.migrate(pool, "quota", DEFINITION.service_dir)
    service = QuotaHandlers(pool, clock=Clock())
    await service.ensure_config(config(16, 16), source="test")
    yield service
    await pool.close()


async def test_an_eviction_nobody_carried_out_is_asked_for_again(quota):
    # vision takes its 16 GPUs and borrows nlp's idle 16; nlp's first workload reclaims: v2 must leave
    for wid in ("v0", "v1", "v2", "v3"):
        await handle(quota, quota.handle_workload_accepted, accepted(wid, "vision"))
    asked = [e for e in await handle(quota, quota.handle_workload_accepted, accepted("n0", "nlp"))
             if e.type == "PreemptionRequested"]
    assert len(asked) == 1 and asked[0].preemptor == "n0"
    victim = asked[0].workload_id

    # the connector never evicts it (the request came before the placement); within the grace, no new request
    quota.clock.now += PREEMPTION_RETRY_S / 2
    assert await tick(quota) == 0
    quota.clock.now += PREEMPTION_RETRY_S
    assert await tick(quota) == 1, "the eviction must be asked for again"
    quota.clock.now += 1
    assert await tick(quota) == 0  # once per grace, not every second

    # the eviction arrives: n0 gets the quota and nobody is asked for again
    emitted = await handle(quota, quota.handle_workload_evicted,
                           WorkloadEvicted(workload_id=victim, tenant=Tenant(org="acme", team="vision"),
                                           cluster="onprem-dc1", reason="preempted"))
    assert any(e.type == "QuotaReserved" and e.workload_id == "n0" for e in emitted)
    quota.clock.now += 2 * PREEMPTION_RETRY_S
    assert await tick(quota) == 0


async def test_a_pending_reason_from_a_rolled_back_transaction_is_still_sent(quota):
    for wid in ("n0", "n1", "n2", "n3"):  # nlp's 16 GPUs and vision's idle 16: the cohort is full
        await handle(quota, quota.handle_workload_accepted, accepted(wid, "nlp"))
    late = accepted("n4", "nlp")
    with pytest.raises(RuntimeError):  # e.g. the commit fails: nothing of it happened
        await handle(quota, failing_after(quota.handle_workload_accepted), late)
    emitted = await handle(quota, quota.handle_workload_accepted, late)  # the consumer handles it again
    assert [e.type for e in emitted if e.workload_id == "n4"] == ["WorkloadPending"]


def failing_after(handler):
    """Returns ``handler`` followed by a failure, so its transaction rolls back as the consumer's would."""
    async def run(event, uow):
        await handler(event, uow)
        raise RuntimeError("the transaction fails after the handler ran")
    return run
