"""kill -9 the only scheduler mid-stream, restart it: it rebuilds from Postgres and the topics, finishes every
workload, places none twice, and never over-commits a GPU or a CPU in what it stores."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import asyncpg
import pytest

from libs.fleet.mix import workload_mix
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from services.admission.signing import demo_signer
from tests.integration.test_flow import finished_with_cost, stuck
from tests.integration.test_scheduler_failover import quiet_platform  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration
COUNT = 60


async def overcommits(conn: asyncpg.Connection) -> list[str]:
    """Returns every node whose stored pods exceed its CPU, memory or any one GPU (one consistent read)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch("select node_id, spec from scheduler.nodes")
        nodes = {r["node_id"]: json.loads(r["spec"]) for r in rows}
        placed = await conn.fetch("select bound from scheduler.placements where bound is not null")
    cpu, mem, gpu = defaultdict(int), defaultdict(int), defaultdict(int)
    for row in placed:
        for _, node, c, m, gpus in json.loads(row["bound"]):
            cpu[node] += c
            mem[node] += m
            for g, milli in gpus:
                gpu[(node, g)] += milli
    bad = [n for n in cpu if n in nodes and (cpu[n] > nodes[n]["cpu_milli"] or mem[n] > nodes[n]["memory_mib"])]
    bad += [f"{n} gpu {g}" for (n, g), milli in gpu.items() if milli > 1000 or (n in nodes and g >= nodes[n]["gpu"])]
    return bad


async def test_kill_9_and_restart_rebuilds_without_double_placement(quiet_platform, kafka_bootstrap, namespace,
                                                                    database_url) -> None:
    platform = quiet_platform
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    submissions = list(workload_mix(COUNT, seed=29, prefix="rs", signer=demo_signer()))
    conn = await asyncpg.connect(database_url)
    violations: list[str] = []
    samples = 0

    async def sample_forever() -> None:
        nonlocal samples
        while True:
            try:
                violations.extend(await overcommits(conn))
                samples += 1
            except asyncpg.UndefinedTableError:
                pass
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample_forever())
    try:
        async with EventPublisher(kafka_bootstrap, namespace) as pub:
            await pub.publish(submissions[: COUNT // 2])
            assert await observer.wait_for(lambda o: o.counts["WorkloadPlaced"] >= 10, timeout=120), platform.logs()
            scheduler = platform.services["scheduler"]
            scheduler.kill()
            await pub.publish(submissions[COUNT // 2:])  # arrives while no scheduler runs
            await asyncio.sleep(1.0)
            scheduler.start()
        finished = await observer.wait_for(finished_with_cost(COUNT, "rs"), timeout=300)
    finally:
        sampler.cancel()
        await conn.close()
    await observer.stop()
    platform.assert_alive()
    assert finished, f"states: {observer.states('rs')}\n{stuck(observer, 'rs')}\n{platform.logs()}"
    views = {k: v for k, v in observer.workloads.items() if k.startswith("rs")}
    # a workload evicted by a node drain is requeued and placed again: once per run, never more
    assert all(len(v.placed_ids) == 1 + len(v.evicted_ids) for v in views.values()), "a workload was placed twice"
    assert samples > 0 and not violations, f"over-committed nodes: {sorted(set(violations))[:10]}"
    assert "rebuilt from Postgres" in platform.services["scheduler"].log_tail(100_000)
