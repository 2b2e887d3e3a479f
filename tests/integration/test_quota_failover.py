"""Active/standby quota on real Kafka and Postgres (as the scheduler's, libs/platform/leader.py): the standby
stands by outside the consumer group; SIGKILL the leader mid-burst and the standby takes the lock, rebuilds from
Postgres and admits exactly up to quota, nothing twice."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from libs.localinfra.processes import ServiceProcess
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from tests.integration.test_quota_service import quota_platform, states, submission, usage  # noqa: F401 - fixture
from tests.integration.test_scheduler_failover import group_members
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def leaders(database_url: str) -> list[str]:
    """Returns the instances that have led quota, in term order."""
    conn = await asyncpg.connect(database_url)
    try:
        return [r["instance"] for r in await conn.fetch("select instance from quota.leadership order by term")]
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


async def test_a_standby_takes_over_from_a_sigkilled_leader_and_never_admits_beyond_quota(
        quota_platform, kafka_bootstrap, namespace, database_url, tmp_path):  # noqa: F811 - the fixture
    """12 x 8 GPUs against a 32-GPU cohort; the leader SIGKILLed mid-burst: exactly 4 run, 8 wait, none twice."""
    platform = quota_platform

    async def led() -> bool:
        return bool(await leaders(database_url))

    assert await eventually(led, timeout=60), platform.logs()
    [primary] = await leaders(database_url)
    standby_logs = tmp_path / "standby"
    standby_logs.mkdir()
    standby = ServiceProcess("quota", {**platform.env(), "BATCHYARD_INSTANCE_ID": "standby"}, standby_logs)
    platform.services["quota-standby"] = standby.start()

    async def standing_by() -> bool:
        return "standing by" in standby.log_tail(200)

    assert await eventually(standing_by, timeout=60), standby.log_tail()
    await asyncio.sleep(1.0)  # a standby that (wrongly) went on would join the group now
    assert await leaders(database_url) == [primary]
    assert await group_members(kafka_bootstrap, f"{namespace}.batchyard.quota") == 1, "standby joined the group"

    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    burst = [f"f{i:02d}" for i in range(12)]
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([submission(w, "vision" if i % 2 else "nlp") for i, w in enumerate(burst)])
    assert await observer.wait_for(lambda o: o.counts["QuotaReserved"] >= 1, timeout=60)
    platform.services["quota"].kill()

    async def standby_leads() -> bool:
        return (await leaders(database_url))[-1] == "standby"

    assert await eventually(standby_leads, timeout=30), standby.log_tail()
    platform.services["quota"].start()  # the old leader comes back as the new standby
    assert await observer.wait_for(lambda o: sorted(states(o, *burst)).count("running") == 4
                                   and states(o, *burst).count("pending") == 8, timeout=90), \
        f"{states(observer, *burst)}\n{platform.logs()}"
    await asyncio.sleep(2)  # a late double admission would show now
    assert sum((await usage(database_url)).values()) == 4
    # as in test_quota_service: every reservation beyond the four is a reclaim, one eviction each
    evictions = observer.counts["WorkloadEvicted"]
    assert observer.counts["QuotaReserved"] == 4 + evictions, observer.counts
    assert len(observer.preempted) == evictions, (observer.preempted, observer.counts)
    await observer.stop()

    async def old_leader_stands_by() -> bool:
        return "standing by" in platform.services["quota"].log_tail(100_000)

    assert await eventually(old_leader_stands_by, timeout=60), platform.services["quota"].log_tail()
    assert (await leaders(database_url))[-1] == "standby", "the restarted leader must stay a standby"
    assert await group_members(kafka_bootstrap, f"{namespace}.batchyard.quota") == 1
    platform.assert_alive()
    assert "quota engine rebuilt" in standby.log_tail(100_000)
