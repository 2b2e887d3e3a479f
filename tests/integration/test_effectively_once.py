"""SIGKILL the scheduler and cost reporting mid-stream: nothing lost, nothing placed or billed twice."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from libs.fleet.mix import workload_mix
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from tests.integration.test_flow import finished_with_cost, stuck

pytestmark = pytest.mark.integration
VICTIMS = ("scheduler", "cost-reporting", "quota", "sim-fleet")
WAVE = 40
COUNT = WAVE * len(VICTIMS)


async def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(platform, kafka_bootstrap, namespace,
                                                                    database_url):
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    submissions = list(workload_mix(COUNT, seed=5, prefix="once"))
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        for wave, victim in enumerate(VICTIMS):
            placed_before = observer.counts["WorkloadPlaced"]
            await pub.publish(submissions[wave * WAVE:(wave + 1) * WAVE])
            # kill while this wave is mid-stream: some placed, most still flowing
            assert await observer.wait_for(lambda o: o.counts["WorkloadPlaced"] >= placed_before + 5, timeout=120)
            platform.services[victim].kill()
            await asyncio.sleep(1.0)
            platform.services[victim].start()
    finished = await observer.wait_for(finished_with_cost(COUNT, "once"), timeout=300)
    await observer.stop()
    platform.assert_alive()
    assert finished, f"states: {observer.states('once')}\n{stuck(observer, 'once')}\n{platform.logs()}"

    views = {k: v for k, v in observer.workloads.items() if k.startswith("once")}
    assert all(len(v.placed_ids) == 1 for v in views.values()), "a workload was placed twice"
    conn = await asyncpg.connect(database_url)
    try:
        ledger = await conn.fetch("select workload_id, node_id, count(*) as n, sum(amount_micros) as amount "
                                  "from cost_reporting.ledger group by 1, 2")
        runs = await conn.fetchval("select count(*) from sim_fleet.pods")
    finally:
        await conn.close()
    assert all(r["n"] == 1 for r in ledger), "a cost was counted twice"
    billed = {}
    for r in ledger:
        billed[r["workload_id"]] = billed.get(r["workload_id"], 0) + r["amount"]
    assert {k: v.cost_micros for k, v in views.items()} == {k: v for k, v in billed.items() if k.startswith("once")}
    assert runs == 0, "every workload finished on the fleet"
