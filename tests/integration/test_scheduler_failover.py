"""Active/standby schedulers on real Kafka and Postgres: the standby does not consume while the leader lives;
SIGKILL the leader mid-stream and the standby takes over, rebuilds and places the rest, none twice."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from libs.fleet.mix import workload_mix
from libs.localinfra.processes import Platform, ServiceProcess
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer
from tests.integration.test_flow import finished_with_cost, stuck

from tests.support.fleets import fault_free_fleet
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
COUNT = 60


@pytest.fixture
async def quiet_platform(kafka_bootstrap, database_url, namespace, tmp_path):
    """All six services as processes on a fault-free demo fleet (1 wall second = 30 simulated minutes)."""
    await ensure_topics(kafka_bootstrap, namespace)
    p = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env={
        "BATCHYARD_TIME_SCALE": "1800", "BATCHYARD_FLEET_SPEC": fault_free_fleet(tmp_path)})
    p.start()
    yield p
    p.stop()


async def leaders(database_url: str) -> list[str]:
    """Returns the instances that have led the scheduler, in term order."""
    conn = await asyncpg.connect(database_url)
    try:
        return [r["instance"] for r in await conn.fetch("select instance from scheduler.leadership order by term")]
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


async def group_members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        return sum(len(g["members"]) for g in response.to_object()["groups"])
    finally:
        await admin.close()


async def test_standby_takes_over_after_the_leader_is_sigkilled(quiet_platform, kafka_bootstrap, namespace,
                                                                database_url, tmp_path) -> None:
    platform = quiet_platform
    assert await eventually(lambda: _has_leader(database_url), timeout=60), platform.logs()
    [primary] = await leaders(database_url)
    standby_logs = tmp_path / "standby"
    standby_logs.mkdir()
    standby = ServiceProcess("scheduler", {**platform.env(), "BATCHYARD_INSTANCE_ID": "standby"}, standby_logs)
    platform.services["scheduler-standby"] = standby.start()

    async def standing_by() -> bool:
        return "standing by" in standby.log_tail(200)

    assert await eventually(standing_by, timeout=60), standby.log_tail()
    await asyncio.sleep(1.0)  # a standby that (wrongly) went on would join the group now
    assert await leaders(database_url) == [primary]
    assert await group_members(kafka_bootstrap, f"{namespace}.batchyard.scheduler") == 1, "standby joined the group"

    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    submissions = list(workload_mix(COUNT, seed=23, prefix="fo", signer=demo_signer()))
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish(submissions)
        assert await observer.wait_for(lambda o: o.counts["WorkloadPlaced"] >= 10, timeout=120), platform.logs()
        placed, killed = observer.counts["WorkloadPlaced"], time.monotonic()
        platform.services["scheduler"].kill()  # mid-stream: some placed, most still flowing
        assert await eventually(lambda: _led_by(database_url, "standby"), timeout=30), standby.log_tail()
        led = time.monotonic()
        assert await observer.wait_for(lambda o: o.counts["WorkloadPlaced"] > placed, timeout=120), standby.log_tail()
        print(f"failover: standby led {led - killed:.1f}s and placed again {time.monotonic() - killed:.1f}s "
              "after the SIGKILL")  # reported in docs/scheduler.md; never asserted (noisy machine)
        platform.services["scheduler"].start()  # the old leader comes back as the new standby
    finished = await observer.wait_for(finished_with_cost(COUNT, "fo"), timeout=300)
    await observer.stop()
    platform.assert_alive()
    assert finished, f"states: {observer.states('fo')}\n{stuck(observer, 'fo')}\n{standby.log_tail()}"
    views = {k: v for k, v in observer.workloads.items() if k.startswith("fo")}
    # a workload evicted by a node drain is requeued and placed again: once per run, never more
    assert all(len(v.placed_ids) == 1 + len(v.evicted_ids) for v in views.values()), "a workload was placed twice"

    async def old_leader_stands_by() -> bool:  # it may still be importing: seconds on a loaded machine
        return "standing by" in platform.services["scheduler"].log_tail(100_000)

    assert await eventually(old_leader_stands_by, timeout=60), platform.services["scheduler"].log_tail()
    assert (await leaders(database_url))[-1] == "standby", "the restarted primary must stay a standby"
    assert await group_members(kafka_bootstrap, f"{namespace}.batchyard.scheduler") == 1
    assert "rebuilt from Postgres" in standby.log_tail(100_000)


async def _has_leader(database_url: str) -> bool:
    return bool(await leaders(database_url))


async def _led_by(database_url: str, instance: str) -> bool:
    return (await leaders(database_url) or [None])[-1] == instance
