"""SIGKILL the scheduler and cost reporting mid-stream: nothing lost, nothing placed or billed twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from libs.fleet import load_fleet
from libs.fleet.mix import workload_mix
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from services.admission.signing import demo_signer
from tests.integration.test_flow import finished_with_cost, stuck

pytestmark = pytest.mark.integration
VICTIMS = ("scheduler", "cost-reporting", "quota", "sim-fleet")
WAVE = 40
COUNT = WAVE * len(VICTIMS)
FLEET = Path(__file__).resolve().parents[2] / "deploy" / "fleet" / "demo.yaml"  # the platform fixture's fleet


async def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(platform, kafka_bootstrap, namespace,
                                                                    database_url):
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    submissions = list(workload_mix(COUNT, seed=5, prefix="once", signer=demo_signer()))
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
    platform.assert_alive()
    if not finished:
        await observer.stop()
    assert finished, f"states: {observer.states('once')}\n{stuck(observer, 'once')}\n{platform.logs()}"

    views = {k: v for k, v in observer.workloads.items() if k.startswith("once")}
    # a workload evicted by a node drain is requeued and placed again: once per run, never more
    assert all(len(v.placed_ids) == 1 + len(v.evicted_ids) for v in views.values()), "a workload was placed twice"
    conn = await asyncpg.connect(database_url)
    try:
        # The ledger books each node-hour per (party, source event) once, and every node-hour sums to exactly the
        # node's price: a cost counted twice would show as a repeated booking or a node-hour over its price.
        repeated = await conn.fetchval("select count(*) from (select 1 from cost_reporting.ledger "
                                       "group by node_id, hour, party, source_event having count(*) > 1) d")
        node_hours = await conn.fetch("select node_id, hour, sum(amount_micros) as booked from cost_reporting.ledger "
                                      "group by 1, 2")
        runs = await conn.fetchval("select count(*) from sim_fleet.pods")
    finally:
        await conn.close()
    assert repeated == 0, "a cost was counted twice"
    price = {e.node_id: e.price_per_hour_micros for e in load_fleet(FLEET).node_events()}
    assert [(r["node_id"], r["hour"]) for r in node_hours if r["booked"] != price[r["node_id"]]] == [], \
        "a node-hour does not sum to its price"

    async def billed() -> dict[str, int]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch("select workload_id, sum(amount_micros) as amount from cost_reporting.ledger "
                                    "where workload_id like 'once%' group by 1")
        finally:
            await conn.close()
        return {r["workload_id"]: int(r["amount"]) for r in rows}

    # accruals of the last bookings may still be in flight from the outbox: wait for finance to catch up
    deadline = asyncio.get_running_loop().time() + 60
    while {k: v.cost_micros for k, v in views.items()} != await billed() and \
            asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
    await observer.stop()
    assert {k: v.cost_micros for k, v in views.items()} == await billed()
    assert runs == 0, "every workload finished on the fleet"
