"""Cost reporting on real Kafka and Postgres: a ledger per node-hour that reconciles to the micro-dollar.

The service runs in-process (``async with create_app(...)``) and is fed crafted events, in order, and then
out of order with every event delivered twice; the ledger must come out identical, equal to what the pure
core (libs/cost) computes from the same usage, and every node-hour must sum to its price. The CLI's report,
CSV export and price file are run as real subprocesses against the same database.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from libs.cost import CostConfig, LedgerBook, NodeSpec, Owner, PriceCatalog, PriceKey, PriceVersion, UsageInterval
from libs.cost import Resources as CostResources
from libs.events import (NodeInventoried, PodAssignment, PodSet, Resources, Tenant, Topology, WorkloadEvicted,
                         WorkloadPlaced, WorkloadRunning, WorkloadSpec, WorkloadSubmitted, WorkloadSucceeded)
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.service import create_app
from libs.platform.settings import Settings
from services.cost_reporting.app import DEFINITION
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
CLOSED_THROUGH = datetime(2026, 3, 2, 0, tzinfo=UTC)  # the marker's start (00:30) closes every hour before it
HOUR = timedelta(hours=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# ---------------------------------------------------------------- the fleet: two H100 nodes and a CPU node

@dataclass(frozen=True)
class Node:
    node_id: str
    pool: str
    instance_type: str
    cpu_milli: int
    memory_mib: int
    gpu: int
    price: int  # micros per hour
    pricing: str

    def event(self) -> NodeInventoried:
        return NodeInventoried(
            node_id=self.node_id, cluster="c1", pool=self.pool, instance_type=self.instance_type,
            cpu_milli=self.cpu_milli, memory_mib=self.memory_mib, gpu=self.gpu,
            gpu_model="H100" if self.gpu else None, labels={"batchyard.dev/pricing": self.pricing},
            topology=Topology(zone="z", block="b", rack="r", host=self.node_id), price_per_hour_micros=self.price,
            occurred_at=T0)

    def spec(self) -> NodeSpec:  # the same units the service uses: millicores, MiB, milli-GPUs
        return NodeSpec(self.node_id, "c1", self.pool, self.instance_type,
                        CostResources(self.cpu_milli, self.memory_mib, self.gpu * 1000), "H100" if self.gpu else "")


NODES = (Node("c1/gpu-0000", "gpu", "h100x8", 96_000, 1_048_576, 8, 3_600_000, "on-demand"),
         Node("c1/gpu-0001", "gpu", "h100x8", 96_000, 1_048_576, 8, 3_600_000, "on-demand"),
         Node("c1/cpu-0000", "cpu", "m7", 64_000, 262_144, 0, 900_000, "spot"))
GPU, IDLE_GPU, CPU = (n.node_id for n in NODES)


# ---------------------------------------------------------------- workloads: builder of their events

@dataclass(frozen=True)
class Run:
    node: str
    pods: int
    requests: Resources
    start: datetime
    end: datetime | None
    evicted: bool = False


def workload_events(wid: str, org: str, team: str, *runs: Run) -> list:
    """Returns Placed / Running / ended events of every run of one workload."""
    tenant, events = Tenant(org=org, team=team), []
    for i, run in enumerate(runs):
        spec = WorkloadSpec(name=wid, queue=f"{team}-q", pod_sets=(PodSet(name="main", count=run.pods,
                                                                          requests=run.requests),))
        common = {"workload_id": wid, "tenant": tenant}
        events.append(WorkloadPlaced(**common, cluster="c1", spec=spec, occurred_at=T0 + timedelta(seconds=i),
                                     assignments=tuple(PodAssignment(pod_set="main", index=p, node_id=run.node)
                                                       for p in range(run.pods))))
        events.append(WorkloadRunning(**common, cluster="c1", occurred_at=run.start))
        if run.end is not None:
            end = WorkloadEvicted(**common, cluster="c1", reason="preempted", occurred_at=run.end) if run.evicted \
                else WorkloadSucceeded(**common, cluster="c1", occurred_at=run.end)
            events.append(end)
    return events


WORKLOADS = {
    "train": ("acme", "vision", Run(GPU, 1, Resources(cpu_milli=8000, memory_mib=65536, gpu=2), at(0.25), at(1.5))),
    "infer": ("acme", "nlp", Run(GPU, 2, Resources(cpu_milli=4000, memory_mib=16384, gpu_milli=500), at(0),
                                 at(2))),
    "etl": ("globex", "research", Run(CPU, 2, Resources(cpu_milli=16000, memory_mib=65536), at(0.5),
                                      at(3 + 1 / 6))),
    "retry": ("acme", "nlp", Run(CPU, 1, Resources(cpu_milli=2000, memory_mib=4096), at(1 / 12), at(5 / 6), True),
              Run(GPU, 1, Resources(cpu_milli=2000, memory_mib=4096, gpu=1), at(7 / 6), at(8 / 3))),
}
MARKER = ("acme", "vision", Run(CPU, 1, Resources(cpu_milli=1000, memory_mib=1024), CLOSED_THROUGH + HOUR / 2,
                                None))


def expected_totals() -> dict[tuple[str, datetime, str], int]:
    """Returns (node, hour, party) → micros as the pure core books the same usage, idle hours closed."""
    nodes = {n.node_id: n.spec() for n in NODES}
    catalog = PriceCatalog.of(PriceVersion(PriceKey("c1", n.pool, n.instance_type), T0, n.price)
                              for n in NODES if n.node_id != IDLE_GPU)
    book = LedgerBook(nodes, catalog, CostConfig())
    for wid, (org, team, *runs) in WORKLOADS.items():
        for i, run in enumerate(runs):
            r = run.requests
            book.ingest(UsageInterval(
                f"{wid}-{i}", f"{wid}#{i}", 0, wid, Owner(org, team, f"{team}-q"), run.node, run.start, run.end,
                CostResources(r.cpu_milli * run.pods, r.memory_mib * run.pods, r.gpu_milli_total * run.pods)))
    hour = T0
    while hour < CLOSED_THROUGH:
        for n in NODES:
            book.close_node_hour(n.node_id, hour)
        hour += HOUR
    return book.totals()


def all_events() -> list:
    return [e for wid, (org, team, *runs) in WORKLOADS.items() for e in workload_events(wid, org, team, *runs)]


def marker_events() -> list:
    org, team, run = MARKER
    return workload_events("marker", org, team, run)


# ---------------------------------------------------------------- the service in-process, and its database

@pytest.fixture
def settings(kafka_bootstrap, database_url, namespace) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                    retry_backoff_s=0.01, cost_close_grace_s=0, cost_close_period_s=0.2)


async def ledger_totals(conn) -> dict[tuple[str, datetime, str], int]:
    rows = await conn.fetch("select node_id, hour, party, sum(amount_micros) as a from cost_reporting.ledger "
                            "group by 1, 2, 3 having sum(amount_micros) <> 0")
    return {(r["node_id"], r["hour"], r["party"]): int(r["a"]) for r in rows}


async def wait_for_ledger(conn, expected, timeout: float = 90) -> dict:
    """Polls until the ledger equals ``expected`` and the hours are closed; returns the last totals seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        totals = await ledger_totals(conn)
        closed = await conn.fetchval("select closed_through from cost_reporting.clock")
        if (totals == expected and closed == CLOSED_THROUGH) or asyncio.get_running_loop().time() > deadline:
            return totals
        await asyncio.sleep(0.3)


async def node_hour_sums(conn) -> dict[tuple[str, datetime], int]:
    rows = await conn.fetch("select node_id, hour, sum(amount_micros) as a from cost_reporting.ledger group by 1, 2")
    return {(r["node_id"], r["hour"]): int(r["a"]) for r in rows}


def assert_reconciles(sums: dict, price_of) -> None:
    """Every node-hour of every node, T0 up to the closed hour, sums to exactly its price: shares + idle."""
    hours = [T0 + i * HOUR for i in range(int((CLOSED_THROUGH - T0) / HOUR))]
    for n in NODES:
        for h in hours:
            assert sums.get((n.node_id, h)) == price_of(n, h), f"{n.node_id} {h}: {sums.get((n.node_id, h))}"


async def accruals_match_ledger(observer: FlowObserver, conn) -> bool:
    ledger = {r["workload_id"]: int(r["a"]) for r in await conn.fetch(
        "select workload_id, sum(amount_micros) as a from cost_reporting.ledger where workload_id is not null "
        "group by 1")}
    seen = {k: v.cost_micros for k, v in observer.workloads.items() if v.accrual_ids}
    return ledger == seen and observer.counts["CostAccrued"] == await conn.fetchval(
        "select count(*) from cost_reporting.ledger where workload_id is not null")


async def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "cost", *args, cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "BATCHYARD_DATABASE_URL": database_url})
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


# ---------------------------------------------------------------- tests

async def test_in_order_usage_books_the_pure_core_split_and_every_node_hour_sums_to_its_price(
        settings, database_url, tmp_path):
    expected = expected_totals()
    async with create_app(settings, DEFINITION):
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([n.event() for n in NODES])
            await pub.publish(all_events())
            await pub.publish(marker_events())
        conn = await asyncpg.connect(database_url)
        try:
            totals = await wait_for_ledger(conn, expected)
            assert totals == expected
            assert_reconciles(await node_hour_sums(conn), lambda n, h: n.price)
            assert await eventually(lambda: accruals_match_ledger(observer, conn)), "CostAccrued != ledger"
            await check_rollups(settings, conn)
            await check_cli_report_and_csv(database_url, conn, tmp_path)
            await check_price_file_reprices_with_corrections(database_url, conn, observer, tmp_path)
            await check_reconcile_reads_one_snapshot(database_url, conn)
        finally:
            await conn.close()
            await observer.stop()


async def check_rollups(settings: Settings, conn) -> None:
    """The closed day's CostRolledUp per team (and per pool's idle) equals the ledger's sums."""
    day = T0.date()
    want = {r["k"]: int(r["a"]) for r in await conn.fetch(
        "select case when workload_id is null then '(idle)' else org || '/' || team end as k, "
        "sum(amount_micros) as a from cost_reporting.ledger where hour < $1 group by 1", CLOSED_THROUGH)}

    seen: list = []

    def latest(dimension: str) -> dict[str, int]:
        best: dict[str, tuple[int, int]] = {}
        for e in seen:
            if e.dimension == dimension and e.day == day and e.revision >= best.get(e.rollup_key, (0, 0))[0]:
                best[e.rollup_key] = (e.revision, e.amount_micros)
        return {k: v for k, (_, v) in best.items()}

    async def caught_up() -> bool:
        seen[:] = await rollups_seen(settings)
        return latest("team") == want

    assert await eventually(caught_up), (latest("team"), want)
    idle = sum(n.price for n in NODES) * 14 - sum(v for k, v in want.items() if k != "(idle)")
    assert sum(latest("pool-idle").values()) == idle == want["(idle)"]


async def rollups_seen(settings: Settings) -> list:
    """Returns every CostRolledUp on the namespace's rollup topic so far."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from libs.events import decode
    from libs.events.topics import COST_ROLLUPS

    name = COST_ROLLUPS.qualified(settings.topic_namespace)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(name, p) for p in range(COST_ROLLUPS.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(parts)
        out = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [decode(r.value) for r in records]
        return out
    finally:
        await consumer.stop()


async def check_cli_report_and_csv(database_url: str, conn, tmp_path: Path) -> None:
    """``cost report --by team --day`` and ``cost export --csv`` show the ledger's own sums, to the micro."""
    by_team = {r["k"]: int(r["a"]) for r in await conn.fetch(
        "select case when workload_id is null then '(idle)' else team end as k, sum(amount_micros) as a "
        "from cost_reporting.ledger where hour >= $1 and hour < $2 group by 1", T0.replace(hour=0), CLOSED_THROUGH)}
    code, out, err = await run_cli(database_url, "report", "--by", "team", "--day", "2026-03-01")
    assert code == 0, err
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    from libs.cost import format_dollars
    assert lines == {**{k: format_dollars(v) for k, v in by_team.items()}, "total": format_dollars(sum(NODE_DAY))}

    raw, teams = tmp_path / "ledger.csv", tmp_path / "teams.csv"
    code, out, err = await run_cli(database_url, "export", "--csv", str(raw), "--day", "2026-03-01")
    assert code == 0, err
    rows = list(csv.DictReader(raw.open()))
    assert len(rows) == await conn.fetchval("select count(*) from cost_reporting.ledger where hour < $1",
                                            CLOSED_THROUGH)
    assert sum(int(r["amount_micros"]) for r in rows) == sum(NODE_DAY), "the day's ledger is node-hours x price"
    code, out, err = await run_cli(database_url, "export", "--csv", str(teams), "--by", "org,team", "--day",
                                   "2026-03-01")
    assert code == 0, err
    totals = {(r["org"], r["team"]): int(r["amount_micros"]) for r in csv.DictReader(teams.open())}
    assert totals[("acme", "vision")] == by_team["vision"] and totals[("(idle)", "(idle)")] == by_team["(idle)"]
    code, out, err = await run_cli(database_url, "reconcile")
    assert code == 0 and "reconciles exactly" in out, out + err


NODE_DAY = [n.price for n in NODES for _ in range(14)]  # 10:00 to 23:00 of 2026-03-01


async def check_reconcile_reads_one_snapshot(database_url: str, conn) -> None:
    """The closer books an hour and closes it between the reconcile's read of the ledger and its read of the clock
    (here: another session moves the clock on at that moment): the reconcile, reading one snapshot, sees neither."""
    from services.cost_reporting import reports

    reader = await asyncpg.connect(database_url, server_settings={"search_path": "cost_reporting"})
    original = reports.repo.clock

    async def clock_moved_on_meanwhile(c):
        await conn.execute("update cost_reporting.clock set closed_through = closed_through + interval '1 hour'")
        return await original(c)
    reports.repo.clock = clock_moved_on_meanwhile
    try:
        assert await reports.discrepancies(reader) == [], "an hour closed after the ledger was read looked unbooked"
    finally:
        reports.repo.clock = original
        await conn.execute("update cost_reporting.clock set closed_through = closed_through - interval '1 hour'")
        await reader.close()


async def check_price_file_reprices_with_corrections(database_url: str, conn, observer, tmp_path: Path) -> None:
    """A price file that changes the H100 price from 12:00 books corrections; the ledger then sums to the new price."""
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  - {cluster: c1, pool: gpu, instance_type: h100x8, model: on_demand,\n"
                      "     effective_from: '2026-03-01T12:00:00Z', hourly: '4.00'}\n")
    code, out, err = await run_cli(database_url, "prices", "apply", str(prices))
    assert code == 0 and "applied 1 new price version" in out, out + err

    async def repriced() -> bool:
        sums = await node_hour_sums(conn)
        return all(sums.get((n.node_id, T0 + i * HOUR)) == (4_000_000 if n.gpu and i >= 2 else n.price)
                   for n in NODES for i in range(14))

    assert await eventually(repriced), "the ledger did not move to the new price"
    assert await conn.fetchval("select count(*) from cost_reporting.ledger where kind = 'correction' and "
                               "source_event like 'price:%' and workload_id is not null") > 0
    assert await eventually(lambda: accruals_match_ledger(observer, conn)), "corrections reached finance"
    code, out, err = await run_cli(database_url, "prices", "apply", str(prices))
    assert code == 0 and "applied 0 new price version" in out, "applying a file twice changes nothing"
    code, out, err = await run_cli(database_url, "reconcile")
    assert code == 0, out + err


async def test_out_of_order_and_twice_delivered_usage_gives_the_same_ledger(settings, database_url):
    """Hours are closed (all idle) before any usage arrives; then every event comes shuffled and twice."""
    expected = expected_totals()
    events = all_events()
    deliveries = events + events
    random.Random(7).shuffle(deliveries)
    async with create_app(settings, DEFINITION):
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        conn = await asyncpg.connect(database_url)
        try:
            async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
                await pub.publish(marker_events())
                await pub.publish([n.event() for n in NODES])
                assert await eventually(lambda: _closed(conn)), "the closer did not close the hours"
                await pub.publish(deliveries)
                await pub.publish([NODES[0].event()] * 2)  # a redelivered inventory changes nothing
            totals = await wait_for_ledger(conn, expected)
            assert totals == expected, "late and duplicate delivery changed the totals"
            assert_reconciles(await node_hour_sums(conn), lambda n, h: n.price)
            assert await conn.fetchval("select count(*) from cost_reporting.ledger where kind = 'correction' "
                                       "and workload_id is not null") > 0, "late usage is booked as corrections"
            assert await eventually(lambda: accruals_match_ledger(observer, conn)), "CostAccrued != ledger"
            dupes = await conn.fetchval("select count(*) - count(distinct (node_id, hour, party, source_event)) "
                                        "from cost_reporting.ledger")
            assert dupes == 0
            await check_rollups(settings, conn)
        finally:
            await conn.close()
            await observer.stop()


async def _closed(conn) -> bool:
    return await conn.fetchval("select closed_through from cost_reporting.clock") == CLOSED_THROUGH


async def test_bad_cli_input_is_refused_clearly_and_writes_nothing(database_url, tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("prices:\n  - {cluster: c1, pool: cpu, instance_type: m7, model: spot,\n"
                    "     effective_from: '2026-03-01T00:00:00Z', hourly: 0.85}\n")
    bad.write_text("prices:\n  - {cluster: c1, pool: cpu, instance_type: m7, effective_from: '2026-03-02T00:00:00Z',"
                   " hourly: '0.80'}\n  - {cluster: c1, pool: gpu, instance_type: h100x8,"
                   " effective_from: '2026-03-02T00:00:00', hourly: '4'}\n  - {cluster: c1, pool: gpu, instance_type: h100x8,"
                   " effective_from: '2026-03-03T00:00:00Z', hourly: '4', amortised: {capex: 1, lifetime_hours: 2}}\n")
    code, out, err = await run_cli(database_url, "prices", "apply", str(good))
    assert code == 0, err
    code, out, err = await run_cli(database_url, "prices", "apply", str(bad))
    assert code == 2 and "prices.1: Value error, effective_from needs a timezone" in err, err
    assert "prices.2: Value error, give exactly one of hourly or amortised" in err, err
    conn = await asyncpg.connect(database_url)
    try:
        versions = await conn.fetch("select hourly_micros, model from cost_reporting.price_versions")
    finally:
        await conn.close()
    assert [(r["hourly_micros"], r["model"]) for r in versions] == [(850_000, "spot")], "nothing half-written"

    for args, message in ((("report", "--by", "colour"), "unknown dimension colour"),
                          (("report", "--day", "2026-13-01"), "is not a date"),
                          (("export", "--csv", str(tmp_path / "missing" / "x.csv")), "does not exist")):
        code, out, err = await run_cli(database_url, *args)
        assert code == 2 and message in err, (args, err)
    target = tmp_path / "kept.csv"
    target.write_text("previous export\n")
    code, out, err = await run_cli(database_url, "export", "--csv", str(target), "--by", "colour")
    assert code == 2 and target.read_text() == "previous export\n", "a failed export leaves the old file whole"
    assert not list(tmp_path.glob(".kept.csv.*")), "no temp file left behind"


def settled_with_cost(count: int, prefix: str):
    """Every workload succeeded with cost, or was evicted or failed and not requeued (quota's business, not ours)."""
    def check(o: FlowObserver) -> bool:
        views = [v for k, v in o.workloads.items() if k.startswith(prefix)]
        return len(views) == count and all((v.state == "succeeded" and v.accrual_ids) or v.state in ("evicted",
                                                                                                    "failed")
                                           for v in views)
    return check


async def test_a_workload_mix_end_to_end_books_every_node_hour_to_its_price(platform, kafka_bootstrap, namespace,
                                                                         database_url):
    """All six services, 40 workloads of three teams, cost reporting SIGKILLed mid-stream: shares + idle == price
    for every node and hour, and finance saw exactly the ledger."""
    from libs.fleet import load_fleet
    from libs.fleet.mix import workload_mix
    from services.admission.signing import demo_signer
    from tests.integration.test_flow import stuck

    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish(workload_mix(40, seed=21, prefix="cost", signer=demo_signer()))
    # SIGKILL cost reporting while it books: whatever transaction it was in never happened
    assert await observer.wait_for(lambda o: o.counts["CostAccrued"] >= 20, timeout=120)
    platform.services["cost-reporting"].kill()
    await asyncio.sleep(1.0)
    platform.services["cost-reporting"].start()
    settled = await observer.wait_for(settled_with_cost(40, "cost"), timeout=300)
    # Hours close on event time (lifecycle events) minus a one-hour grace. A fast mix can finish inside its
    # first simulated hours, so a last 4-hour job moves event time on far enough for hours to close.
    clock_job = WorkloadSubmitted(workload_id="clock-job", tenant=Tenant(org="acme", team="vision"), spec=WorkloadSpec(
        name="clock", duration_s=4 * 3600, pod_sets=(PodSet(name="w", count=1, requests=Resources(cpu_milli=1000)),)))
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([demo_signer()(clock_job)])
    assert await observer.wait_for(lambda o: o.workloads["clock-job"].state == "succeeded", timeout=120)
    platform.assert_alive()
    conn = await asyncpg.connect(database_url)
    try:
        assert settled, f"{observer.states('cost')}\n{stuck(observer, 'cost')}\n{platform.logs()}"
        assert await eventually(lambda: conn.fetchval("select closed_through is not null from cost_reporting.clock"),
                              timeout=60), "no hour closed"
        assert observer.states("cost")["succeeded"] >= 30, observer.states("cost")
        assert await eventually(lambda: accruals_match_ledger(observer, conn)), "CostAccrued != ledger"
        price = {e.node_id: e.price_per_hour_micros for e in load_fleet(REPO / "deploy/fleet/demo.yaml").node_events()}
        async with conn.transaction(isolation="repeatable_read"):  # one snapshot while the closer keeps going
            sums = await node_hour_sums(conn)
            closed, pending = await conn.fetchrow("select closed_through, (select count(*) from "
                                                  "cost_reporting.pending_node_hours) from cost_reporting.clock")
            first = {r["node_id"]: r["h"] for r in await conn.fetch(
                "select node_id, date_trunc('hour', first_seen) as h from cost_reporting.nodes")}
        assert closed is not None and pending == 0
        assert {nh: s for nh, s in sums.items() if s != price[nh[0]]} == {}, "a node-hour is not its price"
        unbooked = [(node, first[node] + i * HOUR) for node in price
                    for i in range(int((closed - first[node]) / HOUR)) if (node, first[node] + i * HOUR) not in sums]
        assert unbooked == [], "a closed node-hour was never booked"
        code, out, err = await run_cli(database_url, "reconcile")
        assert code == 0, out + err
        code, out, err = await run_cli(database_url, "report", "--by", "org,team")
        assert code == 0 and {"acme / vision", "acme / nlp", "globex / research", "(idle) / (idle)"} <= {
            line.rsplit(None, 2)[0].strip() for line in out.splitlines()[1:-1]}, out
    finally:
        await conn.close()
        await observer.stop()
