"""e2e_load: the whole platform as one system under steady offered load, on the simulated fleet.

Every service runs as its own process (admission, quota, scheduler, node repair, cost reporting, the simulated
fleet) on one real Kafka (KRaft) and one real PostgreSQL. An open-loop generator publishes signed
WorkloadSubmitted events at a fixed offered rate for ``--duration`` seconds: it keeps to its timetable whether or
not the platform keeps up, and each workload's latency is measured from its *scheduled* send time, so a generator
that falls behind cannot hide a slow platform (no coordinated omission). Submissions are signed (Ed25519) and
serialised before the clock starts.

The load's shape is libs.localinfra.steady_load's: each workload one pod (100m CPU, 128 MiB) running 30 s of
simulated time (time scale 600: 50 ms of wall time), from three teams of two orgs, on a fleet of 48 CPU nodes whose
quota is far larger than the load, so what is measured is the platform's own speed, not queueing for capacity.

Reported per (offered rate, processes of admission and cost): the achieved submit rate; workloads per second
placed and finished (from the first scheduled send to the last placement or finish); submit→placed and
submit→finished latency percentiles (a tracker reading the placement and lifecycle topics, committed records
only, by key and header: it parses no bodies); each service's consumer lag (largest and mean, sampled every
second); CPU microseconds per workload of each service, Kafka and PostgreSQL (from /proc, by process group), so
the bottleneck is named; the machine's busy fraction. A rate is *sustained* when at least 99 % of its workloads
are placed within 5 s of the generator's last send and the p99 stays under 5 s.

Run: .venv/bin/python -m benchmarks.e2e_load [--rates 100,500,1000,2000] [--duration 60] [--processes 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from libs.events.registry import encode
from libs.events.topics import LIFECYCLE, PLACEMENT, SUBMITTED
from libs.localinfra.databases import create_database
from libs.localinfra.kafka import KafkaServer
from libs.localinfra.postgres import PostgresServer
from libs.localinfra.processes import ALL_SERVICES, Platform
from libs.localinfra.session import throwaway
from libs.localinfra.steady_load import FLEET, TIME_SCALE, platform_env, submissions
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer

from .record import write_result

CMD = ".venv/bin/python -m benchmarks.e2e_load"
TICK_S = 0.01  # the generator sends a slice of its timetable every 10 ms


def tree_cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """Returns the CPU time (user + system) of each root process and all its live descendants, from /proc
    (PostgreSQL's backends start sessions of their own, so process groups would miss them)."""
    tick, stats = os.sysconf("SC_CLK_TCK"), {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)  # ppid, cpu
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for name, root in roots.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += stats.get(pid, (0, 0.0))[1]
            todo.extend(children.get(pid, ()))
        out[name] = total
    return out


def machine_busy() -> tuple[int, int]:
    """Returns (busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def percentile(values: list[float], q: float) -> float | None:
    """Returns the q-quantile (nearest rank) of values, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Tracker:
    """Reads the placement and lifecycle topics (committed records only) and notes when each workload was first
    seen placed, running and finished, by record key and event-type header."""

    bootstrap: str
    namespace: str
    placed: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    _task: asyncio.Task | None = None

    async def start(self) -> "Tracker":
        self._consumer = AIOKafkaConsumer(
            PLACEMENT.qualified(self.namespace), LIFECYCLE.qualified(self.namespace), bootstrap_servers=self.bootstrap,
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
            group_id=None, fetch_max_wait_ms=20)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        marks = {b"WorkloadPlaced": self.placed, b"WorkloadRunning": self.running, b"WorkloadSucceeded": self.finished,
                 b"WorkloadFailed": self.finished}
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    kind = next((v for k, v in record.headers if k == "event-type"), None)
                    target = marks.get(kind)
                    if target is not None and record.key:
                        target.setdefault(record.key.decode(), now)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def sample_lag(bootstrap: str, namespace: str, out: dict[str, list[int]], stop: asyncio.Event) -> None:
    """Every second, for each consumer group of the namespace (one per service), the sum over its partitions of
    (end offset - committed offset)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await probe.start()
    prefix = f"{namespace}.batchyard."
    try:
        while not stop.is_set():
            groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)]
            for group in groups:
                committed = await admin.list_consumer_group_offsets(group)
                if committed:
                    ends = await probe.end_offsets(list(committed))
                    out.setdefault(group.removeprefix(prefix), []).append(
                        sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0))
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
    finally:
        await probe.stop()
        await admin.close()


class Meter:
    """From ``start`` to ``stop``: each consumer group's lag, sampled every second, the CPU seconds of the given
    process trees, and the machine's busy fraction."""

    def __init__(self, bootstrap: str, namespace: str, pids: dict[str, int]) -> None:
        self.bootstrap, self.namespace, self.pids = bootstrap, namespace, pids
        self.lag: dict[str, list[int]] = {}
        self._stop = asyncio.Event()

    def start(self) -> "Meter":
        self._task = asyncio.create_task(sample_lag(self.bootstrap, self.namespace, self.lag, self._stop))
        self._cpu0, self._machine0 = tree_cpu_seconds(self.pids), machine_busy()
        return self

    async def stop(self) -> tuple[dict[str, float], float]:
        """Returns the CPU seconds per process tree and the machine's busy fraction since ``start``."""
        busy, total = (b - a for a, b in zip(self._machine0, machine_busy()))
        cpu = {n: s - self._cpu0[n] for n, s in tree_cpu_seconds(self.pids).items()}
        self._stop.set()
        await self._task
        return cpu, busy / max(1, total)


async def drain(ids: list[str], marks: dict[str, float], timeout_s: float, quiet_s: float = 20.0) -> None:
    """Waits until every workload of ``ids`` is in ``marks``, for at most ``timeout_s``, or until none has joined
    for ``quiet_s``."""
    deadline, last, quiet_since = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        done = sum(1 for w in ids if w in marks)
        if done == len(ids):
            return
        if done != last:
            last, quiet_since = done, time.monotonic()
        elif time.monotonic() - quiet_since > quiet_s:
            return
        await asyncio.sleep(0.5)


def lag_summary(lag: dict[str, list[int]]) -> dict[str, dict]:
    """Returns each consumer group's largest and mean sampled lag."""
    return {s: {"max": max(v, default=0), "mean": round(statistics.fmean(v), 1) if v else 0} for s, v in lag.items()}


def kafka_and_postgres(stack: ExitStack, progress=print) -> tuple[str, str, dict[str, int]]:
    """Returns (Kafka bootstrap, PostgreSQL URL, pids of the servers started): the servers the environment names
    (``BATCHYARD_KAFKA_BOOTSTRAP``, ``BATCHYARD_DATABASE_URL``), or throwaway ones on loopback, stopped with
    ``stack``. Only servers started here are in the pids (their CPU is counted)."""
    bootstrap, db_url = os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"), os.environ.get("BATCHYARD_DATABASE_URL")
    pids: dict[str, int] = {}
    if not bootstrap:
        kafka = stack.enter_context(throwaway(KafkaServer, "batchyard-kafka-", progress))
        bootstrap, pids["kafka"] = kafka.bootstrap, kafka.pid
    if not db_url:
        pg = stack.enter_context(throwaway(PostgresServer, "batchyard-pg-", progress))
        db_url, pids["postgres"] = pg.dsn, pg.pid
    return bootstrap, db_url, pids


def timetable(rate: int, duration_s: float, prefix: str) -> list[tuple[float, str, bytes, list]]:
    """Returns (offset in seconds, workload id, value, headers) for every submission of a step, signed and
    serialised, in send order."""
    headers = [("event-type", b"WorkloadSubmitted"), ("producer", b"e2e-load")]
    events = submissions(int(rate * duration_s), prefix, demo_signer(subject="e2e-load@batchyard"), producer="e2e-load")
    return [(i / rate, event.workload_id, encode(event), headers) for i, event in enumerate(events)]


async def generate(bootstrap: str, namespace: str, table: list, sent_at: dict[str, float]) -> tuple[float, float]:
    """Sends the timetable open-loop; records each workload's scheduled send time; returns when it started and
    when the last submission was handed to the producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    topic, futures, i = SUBMITTED.qualified(namespace), [], 0
    try:
        start = time.monotonic()
        while i < len(table):
            now = time.monotonic() - start
            while i < len(table) and table[i][0] <= now:
                offset, wid, value, headers = table[i]
                sent_at[wid] = start + offset
                futures.append(await producer.send(topic, value=value, key=wid.encode(), headers=headers))
                i += 1
            await asyncio.sleep(max(0.0, min(TICK_S, (table[i][0] if i < len(table) else now) - now)))
        end = time.monotonic()
        await asyncio.gather(*futures)
        return start, end
    finally:
        await producer.stop()


async def wait_for_ready(tracker: Tracker, bootstrap: str, namespace: str, timeout_s: float = 120) -> None:
    """Warms the platform up: 30 workloads (outside the measurement) must all be placed and finished."""
    sent: dict[str, float] = {}
    await generate(bootstrap, namespace, timetable(30, 1, f"warm{uuid.uuid4().hex[:4]}"), sent)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(w in tracker.finished for w in sent):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"platform not ready: {sum(w in tracker.placed for w in sent)}/30 warm-up workloads placed "
                       f"after {timeout_s:.0f}s")


async def run_step(bootstrap: str, db_url: str, servers_pg: dict[str, int], rate: int, duration_s: float,
                   processes: int, root: Path, progress=print) -> dict:
    namespace = f"e2e{uuid.uuid4().hex[:6]}"
    logs = root / f"r{rate}-p{processes}"
    logs.mkdir()
    database = await create_database(db_url)
    await ensure_topics(bootstrap, namespace)
    platform = Platform(bootstrap, database, namespace, logs, extra_env=platform_env(logs))
    platform.start(ALL_SERVICES)
    for extra in range(2, processes + 1):
        for service in ("admission", "cost-reporting"):
            platform.start_as(f"{service}-{extra}", service, {})
    tracker = await Tracker(bootstrap, namespace).start()
    try:
        progress(f"  rate {rate}/s, {processes} process(es) of admission and cost: signing "
                 f"{int(rate * duration_s):,} submissions, warming up ...")
        table = timetable(rate, duration_s, f"w{rate}")
        await wait_for_ready(tracker, bootstrap, namespace)
        platform.assert_alive()
        meter = Meter(bootstrap, namespace, {n: s.proc.pid for n, s in platform.services.items()} | servers_pg)
        meter.start()
        sent: dict[str, float] = {}
        gen = asyncio.create_task(generate(bootstrap, namespace, table, sent))
        while not gen.done():
            await asyncio.sleep(5)
            progress(f"    t={time.monotonic() - (min(sent.values()) if sent else time.monotonic()):5.1f}s "
                     f"sent {len(sent):,} placed {sum(1 for w in sent if w in tracker.placed):,}")
        start, sent_end = await gen
        ids = list(sent)
        await drain(ids, tracker.finished, timeout_s=sent_end + 120 - time.monotonic())
        cpu, busy = await meter.stop()
        lag = meter.lag
        platform.assert_alive()
    finally:
        await tracker.stop()
        platform.stop()
    placed = [tracker.placed[w] - sent[w] for w in ids if w in tracker.placed]
    finished = [tracker.finished[w] - sent[w] for w in ids if w in tracker.finished]
    on_time = sum(1 for w in ids if w in tracker.placed and tracker.placed[w] <= sent_end + 5)
    last_placed = max((tracker.placed[w] for w in ids if w in tracker.placed), default=start)
    last_finished = max((tracker.finished[w] for w in ids if w in tracker.finished), default=start)
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    p99 = percentile(placed, 0.99)
    merged: dict[str, float] = {}
    for name, seconds in cpu.items():  # admission-2 counts as admission
        key = name.rsplit("-", 1)[0] if name[-1].isdigit() and name not in ALL_SERVICES else name
        merged[key] = merged.get(key, 0.0) + seconds
    return {
        "offered_per_s": rate, "processes": processes, "workloads": len(ids),
        "achieved_submit_per_s": round(len(ids) / max(1e-9, sent_end - start), 1),
        "placed": len(placed), "finished": len(finished),
        "placed_per_s": round(len(placed) / max(1e-9, last_placed - start), 1),
        "finished_per_s": round(len(finished) / max(1e-9, last_finished - start), 1),
        "placed_within_5s_of_last_send": round(on_time / len(ids), 4),
        "sustained": on_time >= 0.99 * len(ids) and p99 is not None and p99 < 5,
        "submit_to_placed_ms": {"p50": ms(percentile(placed, 0.5)), "p95": ms(percentile(placed, 0.95)),
                                "p99": ms(p99), "max": ms(max(placed, default=None))},
        "submit_to_finished_ms": {"p50": ms(percentile(finished, 0.5)), "p99": ms(percentile(finished, 0.99))},
        "consumer_lag": lag_summary(lag),
        "cpu_us_per_workload": {n: round(s * 1e6 / max(1, len(placed))) for n, s in sorted(merged.items())},
        "machine_cpu_busy": round(busy, 2), "load_average_1m": round(os.getloadavg()[0], 2),
    }


def summary_line(step: dict) -> str:
    lat = step["submit_to_placed_ms"]
    top = sorted(((v, n) for n, v in step["cpu_us_per_workload"].items()), reverse=True)[:3]
    return (f"  offered {step['offered_per_s']:>5}/s x{step['processes']}: placed {step['placed_per_s']:>7.1f}/s, "
            f"finished {step['finished_per_s']:>7.1f}/s, p50/p95/p99 {lat['p50']}/{lat['p95']}/{lat['p99']} ms, "
            f"{'sustained' if step['sustained'] else 'NOT sustained'}; CPU/workload: "
            + ", ".join(f"{n} {v} us" for v, n in top))


async def main(rates: list[int], duration_s: float, processes: list[int], progress=print) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    steps = []
    with ExitStack() as stack:
        bootstrap, db_url, pgids = kafka_and_postgres(stack, progress)
        for count in processes:
            for rate in rates:
                step = await run_step(bootstrap, db_url, pgids, rate, duration_s, count, root, progress)
                progress(summary_line(step))
                steps.append(step)
    shutil.rmtree(root, ignore_errors=True)
    sustained = [s["offered_per_s"] for s in steps if s["sustained"]]
    at_500 = next((s for s in steps if s["offered_per_s"] == 500 and s["processes"] == 1), None)
    return write_result(
        "e2e_load", max(sustained, default=None), "workloads/s sustained submit->placed", True, 1000, CMD,
        duration_s=duration_s, time_scale=TIME_SCALE, fleet_nodes=FLEET.node_count,
        p99_placed_ms_at_500=at_500["submit_to_placed_ms"]["p99"] if at_500 else None, p99_target_ms_at_500=250,
        steps=steps)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ints = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
    parser = argparse.ArgumentParser(prog="benchmarks.e2e_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=ints, default=[100, 500, 1000, 2000], help="offered workloads/s, e.g. 100,500")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of offered load per rate")
    parser.add_argument("--processes", type=ints, default=[1, 2],
                        help="processes of admission and of cost reporting, e.g. 1,2")
    args = parser.parse_args(argv)
    if not args.rates or min(args.rates) <= 0 or not args.processes or min(args.processes) < 1 or args.duration <= 0:
        parser.error("rates and duration must be positive and processes at least 1")
    return args


if __name__ == "__main__":
    args = parse_args()
    result = asyncio.run(main(args.rates, args.duration, args.processes))
    print(json.dumps(result, indent=2))
