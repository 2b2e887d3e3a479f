"""e2e_kube: the whole platform under steady offered load on a real Kubernetes API server.

benchmarks.e2e_load's run, with the simulated fleet replaced by a Kubernetes control plane (etcd, kube-apiserver,
kube-controller-manager, kwok; one per rate, on 127.0.0.1) and the Kubernetes connector. An open-loop generator
*creates BatchJob objects* through the API server at a fixed offered rate for ``--duration`` seconds, as users'
tools would; the connector takes each in, and admission, quota, the scheduler and the connector place it, create its
pod, bind it (the Binding API) and report it running once kwok runs it; it ends 50 ms later (30 s of simulated
time at time scale 600). Every latency is measured from the object's *scheduled* creation time, so a generator or
API server that falls behind cannot hide it (no coordinated omission).

The load's shape is libs.localinfra.steady_load's (one pod of 100m CPU and 128 MiB, three teams, 48 kwok CPU nodes
of 64 cores, quota far above the load). Reported per offered rate: objects created per second; workloads placed,
running and finished per second; create→placed and create→running percentiles; each service's consumer lag; CPU
microseconds per workload of each service, the connector, the control plane's programs (etcd, kube-apiserver,
kube-controller-manager, kwok), Kafka and PostgreSQL (from /proc), so the bottleneck is named. A rate is
*sustained* when at least 99 % of its workloads run within 5 s of the last creation and the create→running p99
stays under 5 s.

Run: .venv/bin/python -m benchmarks.e2e_kube [--rates 10,25,50] [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from libs.fleet.kube_jobs import batchjob
from libs.localinfra.databases import create_database
from libs.localinfra.kube_fleet import TEAM_NAMESPACES, set_up
from libs.localinfra.kube_session import kube_clusters
from libs.localinfra.processes import CORE_SERVICES, Platform
from libs.localinfra.steady_load import FLEET, SPEC, TEAMS, TIME_SCALE, platform_env
from libs.platform.topics_admin import ensure_topics
from services.kube_connector.api import KubeApi, KubeError, objects_path
from services.kube_connector.kinds import KINDS
from services.kube_connector.translate import workload_id

from .e2e_load import Meter, Tracker, drain, kafka_and_postgres, lag_summary, percentile
from .record import write_result

CMD = ".venv/bin/python -m benchmarks.e2e_kube"
CLUSTER = "onprem-dc1"
SUSTAINED_S = 5.0  # a workload counts as on time when running within this of the last creation


def objects(count: int, prefix: str) -> list[dict]:
    """Returns ``count`` BatchJobs of the steady load's shape, the teams taking turns."""
    return [batchjob(SPEC, f"{prefix}-{i:06d}", TEAMS[i % len(TEAMS)].team, time_scale=TIME_SCALE)
            for i in range(count)]


async def create_open_loop(api: KubeApi, items: list[dict], rate: float, created: dict[str, float],
                           refused: list[str]) -> tuple[float, float]:
    """Creates ``items`` at ``rate`` per second whether or not earlier creates have answered; records each
    workload's scheduled creation time by its workload id; returns when it started and when the last create was
    sent. A create the API server refuses is counted in ``refused`` with its reason, not retried."""
    kind = KINDS["BatchJob"]
    start = time.monotonic()
    pending: list[asyncio.Task] = []

    async def create(obj: dict, scheduled: float) -> None:
        path = objects_path(kind.group, kind.version, kind.plural, obj["metadata"]["namespace"])
        try:
            made = await api.create(path, obj)
        except KubeError as exc:
            refused.append(f"{obj['metadata']['name']}: {exc}")
            return
        created[workload_id(CLUSTER, made)] = scheduled

    for i, obj in enumerate(items):
        scheduled = start + i / rate
        if (delay := scheduled - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(create(obj, scheduled)))
    end = time.monotonic()
    await asyncio.gather(*pending)
    return start, end


async def warm_up(api: KubeApi, tracker: Tracker, timeout_s: float = 180) -> None:
    """10 workloads (outside the measurement) must run: services up, nodes inventoried and in the snapshot."""
    created: dict[str, float] = {}
    refused: list[str] = []
    await create_open_loop(api, objects(10, f"warm{uuid.uuid4().hex[:4]}"), 20, created, refused)
    if refused:
        raise RuntimeError(f"warm-up objects refused: {refused[:3]}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(w in tracker.running for w in created):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"platform not ready: {sum(w in tracker.running for w in created)}/10 warm-up workloads "
                       f"running after {timeout_s:.0f}s")


async def run_step(bootstrap: str, db_url: str, servers_pids: dict[str, int], rate: int, duration_s: float,
                   root: Path, progress=print) -> dict:
    logs = root / f"r{rate}"
    logs.mkdir()
    namespace = f"ek{uuid.uuid4().hex[:6]}"
    with kube_clusters([CLUSTER], progress=progress) as clusters:
        cluster = clusters[CLUSTER]
        database = await create_database(db_url)
        await ensure_topics(bootstrap, namespace)
        env = set_up(FLEET, clusters, logs, time_scale=TIME_SCALE)
        extra = {k: v for k, v in platform_env(logs).items() if k != "BATCHYARD_FLEET_SPEC"}
        platform = Platform(bootstrap, database, namespace, logs, extra_env=extra)
        platform.start(CORE_SERVICES)
        platform.start_as("kube-connector", "kube-connector", env[CLUSTER])
        tracker = await Tracker(bootstrap, namespace).start()
        api = await KubeApi.connect(str(cluster.kubeconfig), concurrency=64)
        try:
            progress(f"  rate {rate}/s: {int(rate * duration_s):,} BatchJobs to create; warming up ...")
            await warm_up(api, tracker)
            platform.assert_alive()
            pids = {n: s.proc.pid for n, s in platform.services.items()} | servers_pids
            if cluster.control_plane is not None:  # etcd, kube-apiserver, kube-controller-manager, kwok
                pids |= cluster.control_plane.pids
            meter = Meter(bootstrap, namespace, pids).start()
            created: dict[str, float] = {}
            refused: list[str] = []
            gen = asyncio.create_task(create_open_loop(api, objects(int(rate * duration_s), f"r{rate}"), rate,
                                                       created, refused))
            while not gen.done():
                await asyncio.sleep(5)
                progress(f"    created {len(created):,} placed {sum(1 for w in created if w in tracker.placed):,} "
                         f"running {sum(1 for w in created if w in tracker.running):,}")
            start, sent_end = await gen
            await drain(list(created), tracker.running, timeout_s=180)
            cpu, busy = await meter.stop()
            platform.assert_alive()
        finally:
            await api.close()
            await tracker.stop()
            platform.stop()
    return step_summary(rate, created, refused, tracker, start, sent_end, cpu, meter.lag, busy)


def step_summary(rate: int, created: dict[str, float], refused: list[str], tracker: Tracker, start: float,
                 sent_end: float, cpu: dict[str, float], lag: dict[str, list[int]], busy: float) -> dict:
    """Returns one rate's figures from the creation times and what the tracker saw on Kafka."""
    ids = list(created)
    placed = [tracker.placed[w] - created[w] for w in ids if w in tracker.placed]
    running = [tracker.running[w] - created[w] for w in ids if w in tracker.running]
    finished = [w for w in ids if w in tracker.finished]
    on_time = sum(1 for w in ids if w in tracker.running and tracker.running[w] <= sent_end + SUSTAINED_S)
    p99 = percentile(running, 0.99)

    def per_s(marks: dict[str, float]) -> float:
        last = max((marks[w] for w in ids if w in marks), default=start)
        return round(sum(1 for w in ids if w in marks) / max(1e-9, last - start), 1)

    def ms(values: list[float]) -> dict:
        return {q: None if (v := percentile(values, f)) is None else round(v * 1000, 1)
                for q, f in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}

    return {
        "offered_per_s": rate, "workloads": len(ids), "refused_creates": len(refused), "refused_sample": refused[:3],
        "achieved_create_per_s": round(len(ids) / max(1e-9, sent_end - start), 1),
        "placed": len(placed), "running": len(running), "finished": len(finished),
        "placed_per_s": per_s(tracker.placed), "running_per_s": per_s(tracker.running),
        "finished_per_s": per_s(tracker.finished),
        "running_within_5s_of_last_create": round(on_time / max(1, len(ids)), 4),
        "sustained": bool(ids) and on_time >= 0.99 * len(ids) and p99 is not None and p99 < SUSTAINED_S,
        "create_to_placed_ms": ms(placed), "create_to_running_ms": ms(running),
        "consumer_lag": lag_summary(lag),
        "cpu_us_per_workload": {n: round(s * 1e6 / max(1, len(running))) for n, s in sorted(cpu.items())},
        "machine_cpu_busy": round(busy, 2), "load_average_1m": round(os.getloadavg()[0], 2),
    }


def summary_line(step: dict) -> str:
    lat = step["create_to_running_ms"]
    top = sorted(((v, n) for n, v in step["cpu_us_per_workload"].items()), reverse=True)[:3]
    return (f"  offered {step['offered_per_s']:>4}/s: created {step['achieved_create_per_s']:.1f}/s, placed "
            f"{step['placed_per_s']:.1f}/s, running {step['running_per_s']:.1f}/s; create->running p50/p95/p99 "
            f"{lat['p50']}/{lat['p95']}/{lat['p99']} ms, {'sustained' if step['sustained'] else 'NOT sustained'}"
            + (f", {step['refused_creates']} creates refused" if step["refused_creates"] else "")
            + "; CPU/workload: " + ", ".join(f"{n} {v} us" for v, n in top))


async def main(rates: list[int], duration_s: float, progress=print) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-e2e-kube-"))
    steps = []
    with ExitStack() as stack:
        bootstrap, db_url, pids = kafka_and_postgres(stack, progress)
        for rate in rates:
            step = await run_step(bootstrap, db_url, pids, rate, duration_s, root, progress)
            progress(summary_line(step))
            steps.append(step)
    sustained = [s["offered_per_s"] for s in steps if s["sustained"]]
    return write_result("e2e_kube", max(sustained, default=None), "workloads/s sustained create->running", True,
                        100, CMD, duration_s=duration_s, time_scale=TIME_SCALE, kwok_nodes=FLEET.node_count,
                        teams=sorted(TEAM_NAMESPACES), logs=str(root), steps=steps)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ints = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
    parser = argparse.ArgumentParser(prog="benchmarks.e2e_kube", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=ints, default=[10, 25, 50], help="BatchJobs created per second, e.g. 10,25")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of offered load per rate")
    args = parser.parse_args(argv)
    if not args.rates or min(args.rates) <= 0 or args.duration <= 0:
        parser.error("rates and duration must be positive")
    return args


if __name__ == "__main__":
    args = parse_args()
    print(json.dumps(asyncio.run(main(args.rates, args.duration)), indent=2))
