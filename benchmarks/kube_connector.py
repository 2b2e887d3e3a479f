"""kube_connector: the whole platform placing and starting work on a real Kubernetes API server, against the same
work on the simulated fleet in the same run.

One control plane (etcd, kube-apiserver, kube-controller-manager, kwok) on 127.0.0.1 with 16 GPU and 24 CPU kwok
nodes (room for every pod at once); the five core services and the Kubernetes connector as processes on real Kafka and PostgreSQL. 60 BatchJobs
of 10 pods each (600 pods, three teams) are applied at once; the clock runs from the apply until every workload's
WorkloadRunning is seen on Kafka (all its pods bound and running). Reported: that time, pods started per second,
time to the first running workload, and the CPU seconds of the connector and of kube-apiserver (from /proc).
The baseline is the same 60 workloads submitted straight to Kafka and run by the simulated fleet, in the same run,
on the same servers: the ratio is what binding real pods through an API server costs on top.

Run: .venv/bin/python -m benchmarks.kube_connector
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from libs.events import PodSet, Resources, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.fleet.kube_jobs import batchjob
from libs.fleet.spec import FleetSpec, PoolSpec
from libs.localinfra.databases import create_database
from libs.localinfra.kube_fleet import set_up
from libs.localinfra.kube_session import kube_clusters
from libs.localinfra.processes import CORE_SERVICES, Platform
from libs.localinfra.session import servers
from libs.platform.observer import ORDER, FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer

from .record import write_result

JOBS, PODS = 60, 10
QUOTA = "deploy/quota/onprem.yaml"
CMD = ".venv/bin/python -m benchmarks.kube_connector"
TEAMS = (Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp"), Tenant(org="globex", team="research"))
FLEET = FleetSpec(name="bench", pools=(
    PoolSpec(name="a100", cluster="onprem-dc1", zone="z1", instance_type="dgx-a100", nodes=16, cpu_milli=128000,
             memory_mib=1048576, gpus=8, gpu_model="A100", price_per_hour="9.60", pricing="on-prem-amortised"),
    PoolSpec(name="cpu", cluster="onprem-dc1", zone="z1", instance_type="r650", nodes=24, cpu_milli=64000,
             memory_mib=262144, price_per_hour="0.90", pricing="on-prem-amortised")))


def spec(i: int) -> WorkloadSpec:
    """Job i: ten one-CPU pods (every fifth job: ten one-GPU pods), running an hour of event time."""
    gpu = 1 if i % 5 == 0 else 0
    pods = PodSet(name="w", count=PODS, image="registry.batchyard.dev/batch/runner:1",
                  requests=Resources(cpu_milli=1000, memory_mib=1024, gpu=gpu))
    return WorkloadSpec(name=f"bench-{i:03d}", pod_sets=(pods,), duration_s=3600)


async def pod_milestones(cluster, pods: int, started: float, out: dict) -> None:
    """Polls the API server (its own table view: light) for when every pod exists, is bound to a node, and has
    been started by kwok (running, or done already)."""
    while "started_s" not in out:
        rows = [line.split() for line in cluster.kubectl("get", "pods", "-A", "--no-headers", "-o", "wide").stdout
                .splitlines()]
        marks = {"created_s": len(rows), "bound_s": sum(1 for r in rows if r[7] != "<none>"),
                 "started_s": sum(1 for r in rows if r[3] in ("Running", "Completed"))}
        for mark, count in marks.items():
            if count >= pods and mark not in out:
                out[mark] = round(time.monotonic() - started, 3)
        await asyncio.sleep(0.5)


async def all_running(observer: FlowObserver, count: int, started: float, timeout_s: float = 600) -> dict:
    """Waits until ``count`` workloads are running (or beyond); returns when the first ran and when all were
    submitted, placed and running (as seen on Kafka)."""
    first, marks = None, {}
    stages = {"submitted_s": ORDER[0:], "accepted_s": ORDER[ORDER.index("accepted"):],
              "reserved_s": ORDER[ORDER.index("reserved"):], "placed_s": ORDER[ORDER.index("placed"):]}
    while time.monotonic() - started < timeout_s:
        states = [v.state for v in observer.workloads.values()]
        running = sum(1 for s in states if s in ("running", "succeeded"))
        for mark, later in stages.items():
            if mark not in marks and sum(1 for s in states if s in later) >= count:
                marks[mark] = round(time.monotonic() - started, 3)
        if running and first is None:
            first = time.monotonic() - started
        if running >= count:
            return {"first_s": round(first, 3), **marks, "all_s": round(time.monotonic() - started, 3)}
        await asyncio.sleep(0.05)
    raise TimeoutError(f"only {running} of {count} workloads running after {timeout_s:.0f}s")


def machine_busy() -> tuple[int, int]:
    """Returns (busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pid: int) -> float:
    """Returns the CPU time (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_kubernetes(infra, cluster, root: Path) -> dict:
    logs = root / "kubernetes"
    logs.mkdir()
    namespace = f"bk{uuid.uuid4().hex[:6]}"
    database = await create_database(infra.database_url)
    await ensure_topics(infra.bootstrap, namespace)
    env = set_up(FLEET, {"onprem-dc1": cluster}, logs, time_scale=600)
    platform = Platform(infra.bootstrap, database, namespace, logs, extra_env={"BATCHYARD_QUOTA_CONFIG": QUOTA})
    platform.start(CORE_SERVICES)
    connector = platform.start_as("kube-connector-onprem-dc1", "kube-connector", env["onprem-dc1"])
    observer = await FlowObserver(infra.bootstrap, namespace).start()
    try:
        await asyncio.sleep(15)  # services up, inventory published and placed in the scheduler's snapshot
        apiserver = cluster.control_plane.pids["kube-apiserver"]
        cpu0, machine0 = (cpu_seconds(connector.proc.pid), cpu_seconds(apiserver)), machine_busy()
        items = [batchjob(spec(i), f"bench-{i:03d}", TEAMS[i % 3].team, time_scale=600) for i in range(JOBS)]
        started, pods = time.monotonic(), {}
        cluster.apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        poller = asyncio.create_task(pod_milestones(cluster, JOBS * PODS, started, pods))
        times = await all_running(observer, JOBS, started)
        await asyncio.wait_for(poller, timeout=60)
        busy, total = (b - a for a, b in zip(machine0, machine_busy()))
        return {**times, "pods": pods, "machine_cpu_busy": round(busy / total, 2), "connector_cpu_s": round(cpu_seconds(connector.proc.pid) - cpu0[0], 2),
                "apiserver_cpu_s": round(cpu_seconds(apiserver) - cpu0[1], 2)}
    finally:
        await observer.stop()
        platform.stop()


async def run_simulated(infra, root: Path) -> dict:
    logs = root / "simulated"
    logs.mkdir()
    namespace = f"bs{uuid.uuid4().hex[:6]}"
    database = await create_database(infra.database_url)
    await ensure_topics(infra.bootstrap, namespace)
    fleet_file = logs / "bench-fleet.yaml"
    fleet_file.write_text(FLEET.model_dump_json())
    platform = Platform(infra.bootstrap, database, namespace, logs, extra_env={
        "BATCHYARD_QUOTA_CONFIG": QUOTA, "BATCHYARD_FLEET_SPEC": str(fleet_file), "BATCHYARD_TIME_SCALE": "600"})
    platform.start()
    observer = await FlowObserver(infra.bootstrap, namespace).start()
    sign = demo_signer()
    try:
        await asyncio.sleep(15)
        subs = [sign(WorkloadSubmitted(workload_id=f"bench-{i:03d}", tenant=TEAMS[i % 3], spec=spec(i),
                                       producer="bench")) for i in range(JOBS)]
        started = time.monotonic()
        async with EventPublisher(infra.bootstrap, namespace) as pub:
            await pub.publish(subs)
        return await all_running(observer, JOBS, started)
    finally:
        await observer.stop()
        platform.stop()


async def main() -> dict:
    logs = Path(tempfile.mkdtemp(prefix="bench-kube-"))
    with servers() as infra, kube_clusters(["onprem-dc1"]) as clusters:
        cluster = clusters["onprem-dc1"]
        kube = await run_kubernetes(infra, cluster, logs)
        sim = await run_simulated(infra, logs)
    pods = JOBS * PODS
    return write_result(
        "kube_connector", round(pods / kube["all_s"], 1), "pods started/s", True, 100, CMD,
        jobs=JOBS, pods=pods, kwok_nodes=FLEET.node_count, kubernetes=kube, simulated_fleet=sim,
        all_running_ratio_kube_over_sim=round(kube["all_s"] / sim["all_s"], 2),
        load_average=round(os.getloadavg()[0], 2))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), indent=2))
