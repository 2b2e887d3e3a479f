"""Quota and a cancelled workload, on a real PostgreSQL, event by event: a reserved workload's quota goes to the
next in line, a pending one leaves the queue, the cancellation is forwarded on the quota topic once (the
scheduler's copy coming back changes nothing), and the id is never reserved again."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.events import Tenant, WorkloadCancelled
from tests.integration.test_quota_never_stuck import accepted, handle, quota  # noqa: F401 - the quota fixture
from tests.integration.test_quota_never_stuck import pytestmark  # noqa: F401 - integration

VISION = Tenant(org="acme", team="vision")


def cancelled(wid: str, producer: str = "admission") -> WorkloadCancelled:
    return WorkloadCancelled(workload_id=wid, tenant=VISION, cancelled_at=datetime.now(UTC), producer=producer)


def summary(emitted) -> list[tuple[str, str, str]]:
    return [(e.type, e.workload_id, getattr(e, "reason", "")) for e in emitted]


async def test_a_cancelled_workload_releases_its_quota_once_and_is_never_reserved_again(quota):  # noqa: F811
    # vision's 16 GPUs and nlp's idle 16 hold four 8-GPU workloads; v4 and v5 wait
    for wid in ("v0", "v1", "v2", "v3", "v4", "v5"):
        await handle(quota, quota.handle_workload_accepted, accepted(wid, "vision"))
    assert quota.engine.where("v4") == quota.engine.where("v5") == "pending"

    waiting = await handle(quota, quota.handle_workload_cancelled, cancelled("v4"))
    assert summary(waiting) == [("WorkloadCancelled", "v4", "")]  # nothing to release; forwarded
    assert quota.engine.where("v4") is None

    running = await handle(quota, quota.handle_workload_cancelled, cancelled("v0"))
    assert summary(running) == [("QuotaReleased", "v0", "cancelled"), ("QuotaReserved", "v5", ""),
                                ("WorkloadCancelled", "v0", "")]  # v5, behind the cancelled v4, gets the quota
    assert running[-1].producer == "quota" and running[-1].event_id != running[0].event_id

    # the scheduler's copy (placement topic), and an acceptance of a cancelled id, change nothing
    assert await handle(quota, quota.handle_workload_cancelled, cancelled("v0", producer="scheduler")) == []
    assert await handle(quota, quota.handle_workload_accepted, accepted("v4", "vision")) == []
    assert quota.engine.where("v4") is None and quota.engine.where("v0") is None
    rows = await quota.pool.fetch("select workload_id, had from quota.cancelled_workloads order by 1")
    assert [tuple(r) for r in rows] == [("v0", "reserved"), ("v4", "pending")]

    async with quota.pool.acquire() as conn:
        await quota.rebuild(conn)  # what Postgres says after a restart
    assert quota.engine.where("v0") is None and quota.engine.where("v4") is None
    assert quota.engine.where("v5") == "reserved"
