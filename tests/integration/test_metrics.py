"""Kueue-named Prometheus metrics scraped from the real services on real Kafka and PostgreSQL, and the Grafana
dashboards' queries checked against what those services really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from libs.events.topics import SUBMITTED
from libs.fleet.mix import workload_mix
from libs.localinfra._proc import free_port
from libs.localinfra.databases import create_database
from libs.localinfra.processes import ALL_SERVICES, Platform
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer
from tests.support.polling import eventually
from tests.support.scrape import scrape, total

pytestmark = pytest.mark.integration

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
COUNT = 24
GIB = 2 ** 30


def finished(o: FlowObserver) -> bool:
    done = [v for k, v in o.workloads.items() if k.startswith("met") and v.state == "succeeded"]
    return len(done) == COUNT and all(v.accrual_ids for v in done)


@pytest.fixture(scope="module")
async def running(kafka_bootstrap, postgres_admin_dsn, tmp_path_factory):
    """The six services, each serving /metrics on its own port, after a workload mix ran to the end; also what
    was seen while it ran: (ports, observer, seen while running)."""
    namespace, logs = f"m{free_port()}", tmp_path_factory.mktemp("metrics")
    await ensure_topics(kafka_bootstrap, namespace)
    platform = Platform(kafka_bootstrap, await create_database(postgres_admin_dsn), namespace, logs,
                        extra_env={"BATCHYARD_TIME_SCALE": "600"})
    ports = {name: free_port() for name in ALL_SERVICES}
    for name in ALL_SERVICES:
        platform.start_as(name, name, {"BATCHYARD_METRICS_PORT": str(ports[name])})
    try:
        observer = await FlowObserver(kafka_bootstrap, namespace).start()
        async with EventPublisher(kafka_bootstrap, namespace) as pub:
            await pub.publish(list(workload_mix(COUNT, seed=5, prefix="met", signer=demo_signer())))
            await (await pub.send_raw(SUBMITTED, b"{not json", key=b"met-bad"))
        busy: dict[str, float] = {}

        async def seen_busy() -> bool:  # while work runs: quota held, GPUs allocated, money spent
            if finished(observer):
                return True
            try:
                quota, scheduler, cost = (scrape(ports[s]) for s in ("quota", "scheduler", "cost-reporting"))
            except OSError:
                return False  # not serving yet
            for key, value in (("usage", total(quota, "batchyard_cluster_queue_resource_usage")),
                               ("gpus", total(scheduler, "batchyard_pool_gpus_allocated")),
                               ("dollars", total(cost, "batchyard_cost_rate_dollars_per_hour"))):
                busy[key] = max(busy.get(key, 0.0), value)
            return len([v for v in busy.values() if v > 0]) == 3

        await eventually(seen_busy, timeout=240)
        done = await observer.wait_for(finished, timeout=300)
        await observer.stop()
        assert done, f"{observer.states('met')}\n{platform.logs()}"
        platform.assert_alive()
        yield ports, observer, busy
    finally:
        platform.stop()


async def test_the_services_export_kueue_named_metrics_computed_from_their_state(running):
    ports, observer, busy = running
    assert all(busy.get(k, 0) > 0 for k in ("usage", "gpus", "dollars")), busy

    async def settled() -> bool:  # gauges refresh every 2 s: wait for the quiet state after the run
        return total(scrape(ports["quota"]), "batchyard_cluster_queue_resource_usage") == 0
    assert await eventually(settled, timeout=60)

    quota = scrape(ports["quota"])
    reserved = total(quota, "batchyard_quota_reserved_workloads_total")
    assert reserved >= COUNT  # every workload once, and again after an eviction
    assert total(quota, "batchyard_admitted_workloads_total") == reserved
    assert total(quota, "batchyard_admission_wait_time_seconds_count") == reserved
    assert total(quota, "batchyard_pending_workloads") == 0
    assert {s["status"] for s, _ in quota["batchyard_pending_workloads"]} == {"active", "inadmissible"}
    gpu = dict(cohort="acme", cluster_queue="acme-vision", flavor="a100-onprem")
    assert total(quota, "batchyard_cluster_queue_nominal_quota", **gpu, resource="nvidia.com/gpu") == 64
    assert total(quota, "batchyard_cluster_queue_nominal_quota", **gpu, resource="cpu") == 640
    assert total(quota, "batchyard_cluster_queue_nominal_quota", **gpu, resource="memory") == 5 * 1024 * GIB
    evicted = {(s["cluster_queue"], s["reason"]) for s, _ in quota["batchyard_evicted_workloads_total"]}
    assert {("acme-vision", "Preempted"), ("acme-vision", "PodsReadyTimeout")} <= evicted  # from 0, before any
    preempted = {(s["preempting_cluster_queue"], s["reason"]) for s, _ in quota["batchyard_preempted_workloads_total"]}
    assert ("acme-nlp", "InCohortReclamation") in preempted

    scheduler = scrape(ports["scheduler"])
    for pool, gpus, nodes in (("a100", 192, 24), ("h100", 64, 8), ("l4", 48, 12)):
        assert total(scheduler, "batchyard_pool_gpus_total", pool=pool) == gpus
        assert total(scheduler, "batchyard_pool_nodes", pool=pool) == nodes
    assert total(scheduler, "batchyard_pool_nodes") == 84

    repair = scrape(ports["node-repair"])
    assert total(repair, "batchyard_node_repair_nodes") == 84
    assert {s["state"] for s, _ in repair["batchyard_node_repair_nodes"]} >= {"healthy", "cordoned", "repairing"}

    cost = scrape(ports["cost-reporting"])
    teams = {(s["org"], s["team"]) for s, _ in cost["batchyard_cost_rate_dollars_per_hour"]}
    assert teams == {("acme", "vision"), ("acme", "nlp"), ("globex", "research")}

    admission = scrape(ports["admission"])
    assert total(admission, "batchyard_dead_letters_total", service="admission", reason="not-json") == 1


METRIC = re.compile(r"\bbatchyard_[a-z0-9_]+")


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def queries(board: dict) -> list[str]:
    panels = [p for top in board["panels"] for p in [top, *top.get("panels", ())]]
    return [t["expr"] for p in panels for t in p.get("targets", ()) if "expr" in t] + \
        [v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
         for v in board["templating"]["list"] if v["type"] == "query"]


def test_there_are_three_dashboards_each_with_a_prometheus_datasource_variable():
    boards = dashboards()
    assert set(boards) == {"platform-overview.json", "gpus-and-nodes.json", "cost.json"}
    for name, board in boards.items():
        [source] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert source["query"] == "prometheus", name
        panels = [p for p in board["panels"] if p["type"] != "row"]
        assert panels and all(p["datasource"]["uid"] == "${%s}" % source["name"] for p in panels), name
        assert all(p.get("targets") for p in panels), name
        assert board["uid"] and board["title"] and board["schemaVersion"] >= 36, name


async def test_every_metric_a_dashboard_queries_is_one_the_services_export(running):
    ports, _, _ = running
    exported = {name for port in ports.values() for name in scrape(port)}
    for name, board in dashboards().items():
        used = {m for q in queries(board) for m in METRIC.findall(q)}
        assert used, name
        assert used <= exported, f"{name} queries what no service exports: {sorted(used - exported)}"
