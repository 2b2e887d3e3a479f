"""The demo's workload mix on three real control planes (the demo fleet as kwok nodes, one connector per cluster):
every workload ends, and cost follows the same accounting as on the simulated fleet — the catalog holds the
fleet's prices and the ledger reconciles to node-hours × price to the micro-dollar."""

from __future__ import annotations

import json
from collections import Counter

import asyncpg
import pytest

from cli.demo_kube import FLEET, demo_jobs, job_states
from libs.cost import PriceKey
from libs.fleet import load_fleet
from libs.localinfra.kube_fleet import set_up
from libs.localinfra.processes import CORE_SERVICES, Platform
from libs.platform.observer import FlowObserver
from libs.platform.topics_admin import ensure_topics
from services.cost_reporting import repository as cost_repo
from services.cost_reporting.reports import discrepancies
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
TIME_SCALE = 1200


async def test_the_demo_mix_ends_on_three_clusters_and_its_cost_reconciles(kube, kafka_bootstrap, database_url,
                                                                          namespace, tmp_path):
    fleet = load_fleet(FLEET)
    jobs, homeless = demo_jobs(36, seed=7, time_scale=TIME_SCALE)
    assert homeless == 0 and set(jobs) == {"onprem-dc1", "aws-use1", "gcp-usc1"}
    await ensure_topics(kafka_bootstrap, namespace)
    env = set_up(fleet, kube, tmp_path, time_scale=TIME_SCALE)
    platform = Platform(kafka_bootstrap, database_url, namespace, tmp_path)
    platform.start(CORE_SERVICES)
    for name in kube:
        platform.start_as(f"kube-connector-{name}", "kube-connector", env[name])
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    try:
        for name, items in jobs.items():
            kube[name].apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

        async def ended():
            states = sum(job_states(kube).values(), Counter())
            return states["Succeeded"] + states["Refused"] == 38

        if not await eventually(ended, timeout=300, interval=1):
            stuck = await held_for_unfinished(database_url, observer)
            raise AssertionError(f"{job_states(kube)}\n{stuck}\n{platform.logs()}")
        succeeded = [v for v in observer.workloads.values() if v.state == "succeeded"]
        assert await observer.wait_for(lambda o: sum(1 for v in o.workloads.values() if v.state == "succeeded"
                                                     and v.accrual_ids) == 36, timeout=60)
    finally:
        await observer.stop()
        platform.stop()
    assert sum(job_states(kube).values(), Counter()) == Counter({"Succeeded": 36, "Refused": 2})
    assert len({v.tenant for v in succeeded}) == 3 and all(len(v.placed_ids) == 1 + len(v.evicted_ids)
                                                           for v in succeeded)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "cost_reporting"})
    try:
        catalog = await cost_repo.load_catalog(conn)
        nodes = await conn.fetch("select distinct cluster, pool, instance_type from nodes")
        prices = {(p.cluster, p.name): int(p.price_per_hour * 1_000_000) for p in fleet.pools}
        for n in nodes:
            versions = catalog.versions[PriceKey(n["cluster"], n["pool"], n["instance_type"])]
            assert {v.hourly for v in versions} == {prices[(n["cluster"], n["pool"])]}, "the fleet's own price"
        assert len(nodes) == len(fleet.pools)
        assert await discrepancies(conn) == [], "the ledger reconciles to node-hours x price"
    finally:
        await conn.close()


async def held_for_unfinished(database_url: str, observer: FlowObserver) -> str:
    """What quota and the scheduler hold for each workload that has not ended, with the events the observer saw of
    it: the question a stuck demo raises is which service it waits in, and why."""
    unfinished = sorted(w for w, v in observer.workloads.items() if v.state not in ("succeeded", "failed",
                                                                                     "rejected", "cancelled"))
    conn = await asyncpg.connect(database_url)
    try:
        quota = {r["workload_id"]: dict(r) for r in await conn.fetch(
            "select workload_id, state, cluster_queue, flavor, pending_reason, pending_message "
            "from quota.workloads where workload_id = any($1)", unfinished)}
        pending = {r["workload_id"]: dict(r) for r in await conn.fetch(
            "select workload_id, last_reason, victims from scheduler.pending where workload_id = any($1)",
            unfinished)}
        placed = {r["workload_id"] for r in await conn.fetch(
            "select workload_id from scheduler.placements where workload_id = any($1)", unfinished)}
    finally:
        await conn.close()
    return "\n".join(
        f"{w}: observer {observer.workloads[w].state} (placed {len(observer.workloads[w].placed_ids)}, evicted "
        f"{len(observer.workloads[w].evicted_ids)}, preempted {observer.preempted[w]}); quota {quota.get(w)}; "
        f"scheduler {'placed' if w in placed else pending.get(w)}" for w in unfinished) or "no unfinished workload"
