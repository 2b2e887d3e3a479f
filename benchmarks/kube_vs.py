"""kube_vs: batchyard against kube-scheduler on the same API server and the same kwok fleet, in one run.

For 1,000 and 5,000 kwok nodes (4 CPU, 32 GiB each, racks of 32), 10,000 pending pods shaped like
kube-scheduler's scheduler_perf SchedulingBasic (100m CPU, 500 MiB) are created with no scheduler running;
then one scheduler starts and the clock runs from its start until the last pod is bound:
- kube-scheduler (built from the same module as the API server) at its default client QPS/burst (50/100) and
  tuned (5000/5000);
- batchyard: admission, quota and the scheduler already running, the Kubernetes connector started (each pod is
  a workload of one, submitted, admitted, reserved, placed and bound through the Binding API).
Then gangs: 100 gangs of 32 pods (2 CPU, 1 GiB) that must share one rack; a rack holds two, so 62 fit at once on
1,000 nodes. kube-scheduler has no gangs: they are pods with a required pod affinity to their gang's rack; we
count the pods it leaves stranded in gangs it bound only in part. batchyard gets them as pod groups with Kueue's
required-topology annotation. Binds are counted from a watch; apiserver CPU from /proc.

Run: .venv/bin/python -m benchmarks.kube_vs [--nodes 1000 5000] [--pods 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from libs.fleet.spec import FleetSpec, PoolSpec
from libs.localinfra.databases import create_database
from libs.localinfra.kube_fleet import set_up
from libs.localinfra.kube_session import kube_clusters
from libs.localinfra.processes import Platform
from libs.localinfra.session import servers
from libs.platform.topics_admin import ensure_topics
from services.kube_connector.api import KubeApi, KubeError
from services.kube_connector.informer import DELETED, Informer

from .kube_connector import cpu_seconds
from .record import write_result

NS, CMD = "bench", ".venv/bin/python -m benchmarks.kube_vs"
IMAGE = "registry.batchyard.dev/batch/runner:1"
RACK = "batchyard.dev/rack"
GANG_POD = re.compile(r"-(g\d{3})-\d{2}$")


def fleet(nodes: int) -> FleetSpec:
    return FleetSpec(name="kube-vs", pools=(PoolSpec(
        name="basic", cluster="onprem-dc1", zone="z1", instance_type="sched-perf", nodes=nodes, cpu_milli=4000,
        memory_mib=32768, nodes_per_rack=32, racks_per_block=8, price_per_hour="0.10", pricing="on-demand"),))


def quota_yaml() -> str:
    """One flavor (the pool), one cluster queue with room for everything, the bench team's local queue."""
    docs = [{"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ResourceFlavor", "metadata": {"name": "basic"},
             "spec": {"nodeLabels": {"batchyard.dev/cluster": "onprem-dc1", "batchyard.dev/pool": "basic"}}},
            {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue", "metadata": {"name": "bench"},
             "spec": {"resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [
                 {"name": "basic", "resources": [{"name": "cpu", "nominalQuota": 1_000_000},
                                                 {"name": "memory", "nominalQuota": "10000Ti"},
                                                 {"name": "nvidia.com/gpu", "nominalQuota": 0}]}]}]}},
            {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
             "metadata": {"name": "default", "namespace": NS}, "spec": {"clusterQueue": "bench"}}]
    return yaml.safe_dump_all(docs)


def pod(name: str, scheduler: str, cpu: str = "100m", memory: str = "500Mi", labels: dict | None = None,
        annotations: dict | None = None, affinity: dict | None = None) -> dict:
    spec = {"schedulerName": scheduler, "restartPolicy": "Never", "containers": [{
        "name": "main", "image": IMAGE, "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}
    if affinity:
        spec["affinity"] = affinity
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels or {},
                                                             "annotations": annotations or {}}, "spec": spec}


# Each phase names its pods afresh: kwok works through a backlog of pod deletions by name, and would delete a new
# pod that took the name of one deleted a moment before (734 of 10,000 vanished that way).
def basic_pods(count: int, batchyard: bool, phase: str = "p") -> list[dict]:
    labels = {"batchyard.dev/queue": "default"} if batchyard else {}
    return [pod(f"{phase}-{i:05d}", "batchyard" if batchyard else "default-scheduler", labels=labels)
            for i in range(count)]


def gang_pods(gangs: int, size: int, batchyard: bool, phase: str = "p") -> list[dict]:
    out = []
    for g in range(gangs):
        for i in range(size):
            name = f"{phase}-g{g:03d}-{i:02d}"
            if batchyard:
                out.append(pod(name, "batchyard", "2", "1Gi",
                               labels={"batchyard.dev/queue": "default", "batchyard.dev/pod-group": f"g{g:03d}"},
                               annotations={"batchyard.dev/pod-group-total-count": str(size),
                                            "kueue.x-k8s.io/podset-required-topology": RACK}))
            else:
                term = {"labelSelector": {"matchLabels": {"gang": f"g{g:03d}"}}, "topologyKey": RACK}
                out.append(pod(name, "default-scheduler", "2", "1Gi", labels={"gang": f"g{g:03d}"},
                               affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}))
    return out


class BindWatch:
    """Counts the bench namespace's pods and binds from one watch, with the times of the first and last bind."""

    def __init__(self, api: KubeApi) -> None:
        self.bound: dict[str, str] = {}  # pod name -> node
        self.pods: set[str] = set()
        self.first_bind = self.last_bind = 0.0
        self.informer = Informer(api, f"/api/v1/namespaces/{NS}/pods", self.changed, name="bench pods")

    def changed(self, change: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        if change == DELETED:
            self.pods.discard(name)
            self.bound.pop(name, None)
            return
        self.pods.add(name)
        if (node := obj["spec"].get("nodeName")) and name not in self.bound:
            self.bound[name] = node
            self.last_bind = time.monotonic()
            self.first_bind = self.first_bind or self.last_bind


async def until(check, timeout: float, stall_s: float | None = None, progress=None) -> bool:
    """Waits until ``check()``; False after ``timeout`` or, with ``stall_s``, when ``progress()`` has moved and then
    stopped moving for ``stall_s`` (a scheduler's start-up, before its first bind, is not a stall)."""
    deadline, last, moved = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        if check():
            return True
        if progress is not None:
            now = progress()
            if now != last:
                last, moved = now, time.monotonic()
            elif now and time.monotonic() - moved > stall_s:
                return False
        await asyncio.sleep(0.2)
    return check()


async def create(api: KubeApi, pods: list[dict], watch: BindWatch) -> None:
    """Creates ``pods`` through the API, many at a time (kubectl creates one after another)."""
    for start in range(0, len(pods), 500):
        await asyncio.gather(*(api.create(f"/api/v1/namespaces/{NS}/pods", p) for p in pods[start:start + 500]))
    await until(lambda: len(watch.pods) >= len(pods), timeout=600)


async def clear(api: KubeApi, watch: BindWatch) -> None:
    """Deletes every bench pod, many at a time with no grace (a delete collection of 10,000 pods outlasts the API
    server's request timeout), and waits for the watch to agree."""
    names = sorted(watch.pods)
    for start in range(0, len(names), 500):
        await asyncio.gather(*(_delete(api, name) for name in names[start:start + 500]))
    await until(lambda: not watch.pods, timeout=600)


async def _delete(api: KubeApi, name: str) -> None:
    try:
        await api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{name}", query={"gracePeriodSeconds": "0"})
    except KubeError as exc:
        if not exc.not_found:
            raise


async def measure(cluster, api: KubeApi, watch: BindWatch, pods: list[dict], start, stop, pids, *,
                  stall_s: float = 60) -> dict:
    """Creates ``pods`` with no scheduler running, starts one, and times it to the last bind (or a stall).
    ``pids()`` names the scheduler's processes, whose CPU is reported too."""
    await create(api, pods, watch)
    apiserver = cluster.control_plane.pids["kube-apiserver"]
    cpu0, idle0 = cpu_seconds(apiserver), time.monotonic()  # what kwok's heartbeats cost it with nothing to bind
    await asyncio.sleep(10)
    cpu1, started = cpu_seconds(apiserver), time.monotonic()
    idle_rate = (cpu1 - cpu0) / (started - idle0)
    watch.first_bind = watch.last_bind = 0.0  # this phase's binds only
    await start()
    mine = pids()
    own0 = {name: cpu_seconds(pid) for name, pid in mine.items()}
    done = await until(lambda: len(watch.bound) >= len(pods), timeout=900, stall_s=stall_s,
                       progress=lambda: len(watch.bound))
    elapsed = (watch.last_bind or time.monotonic()) - started
    first = watch.first_bind - started if watch.first_bind else None
    binding = elapsed - first if first is not None else 0.0
    result = {"bound": len(watch.bound), "of": len(pods), "all_bound": done, "last_bind_s": round(elapsed, 2),
              "pods_per_s": round(len(watch.bound) / elapsed, 1) if elapsed > 0 else None,
              # start-up (process start, imports, first lists) to the first bind, then the pace after it
              "first_bind_s": round(first, 2) if first is not None else None,
              "pods_per_s_after_first_bind": round((len(watch.bound) - 1) / binding, 1) if binding > 0 else None,
              "apiserver_cpu_s": round(cpu_seconds(apiserver) - cpu1, 2),
              "apiserver_idle_cpu_per_s": round(idle_rate, 3)}
    result["scheduler_cpu_s"] = {name: round(cpu_seconds(pid) - own0[name], 2) for name, pid in mine.items()}
    window = time.monotonic() - started
    result["apiserver_cpu_ms_per_pod_above_idle"] = round(
        1000 * (result["apiserver_cpu_s"] - idle_rate * window) / max(1, len(watch.bound)), 2)
    result["gang_bound"] = dict(sorted(_gangs(watch).items()))
    print(f"  {len(watch.bound)}/{len(pods)} bound in {elapsed:.1f}s (first bind after {first or 0:.1f}s)", flush=True)
    await stop()
    await clear(api, watch)
    return result


def _gangs(watch: BindWatch) -> dict[str, int]:
    """Returns the bound pods of each gang (``<phase>-g<gang>-<index>``)."""
    out: dict[str, int] = {}
    for name in watch.bound:
        if found := GANG_POD.search(name):
            out[found[1]] = out.get(found[1], 0) + 1
    return out


def stranded(result: dict, size: int) -> dict:
    """Returns ``result`` with, instead of each gang's bound count, how many gangs ran whole or in part (and the
    pods stranded in those)."""
    result = dict(result)
    counts = list(result.pop("gang_bound").values())
    partial = [c for c in counts if c < size]
    return {**result, "gangs_whole": sum(1 for c in counts if c == size), "gangs_partial": len(partial),
            "pods_stranded_in_partial_gangs": sum(partial)}


async def run_nodes(infra, cluster, nodes: int, pods: int, gangs: int, gang_size: int, root: Path,
                    only: set[str]) -> dict:
    cluster.kubectl("delete", "nodes", "--all", "--wait=false")
    cluster.kubectl("create", "namespace", NS, check=False)
    spec = fleet(nodes)
    logs = root / f"n{nodes}"
    logs.mkdir()
    env = set_up(spec, {"onprem-dc1": cluster}, logs, tenants={NS: ("acme", NS)})
    await until(lambda: ready_nodes(cluster) >= nodes, timeout=600)
    api = await KubeApi.connect(str(cluster.kubeconfig), concurrency=32)
    watch = BindWatch(api)
    watching = asyncio.create_task(watch.informer.run())
    out: dict = {"nodes": nodes}
    try:
        plane = cluster.control_plane

        def scheduler_pid() -> dict[str, int]:
            return {"kube-scheduler": plane.pids["kube-scheduler"]}
        for label, qps, burst in (("kube_scheduler_default", 50, 100), ("kube_scheduler_tuned", 5000, 5000)):
            if "kube-scheduler" not in only:
                continue
            print(f"{nodes} nodes, {pods} pods: kube-scheduler QPS {qps} burst {burst}", flush=True)

            async def start(qps=qps, burst=burst):
                plane.start_scheduler(qps=qps, burst=burst)

            async def stop():
                plane.stop_scheduler()
            out[label] = await measure(cluster, api, watch, basic_pods(pods, False, f"k{qps}"), start, stop,
                                       scheduler_pid)
            out[label].pop("gang_bound")
        if "batchyard" not in only:
            return out
        platform = await batchyard_platform(infra, logs)

        def platform_pids() -> dict[str, int]:
            return {name: service.proc.pid for name, service in platform.services.items()
                    if service.proc and service.proc.poll() is None}
        try:
            print(f"{nodes} nodes, {pods} pods: batchyard", flush=True)
            async def start_connector():
                platform.start_as("kube-connector-onprem-dc1", "kube-connector", env["onprem-dc1"])

            async def stop_connector():
                platform.services["kube-connector-onprem-dc1"].stop()
            out["batchyard"] = await measure(cluster, api, watch, basic_pods(pods, True, "b"), start_connector,
                                             stop_connector, platform_pids)
            out["batchyard"].pop("gang_bound")
            print(f"{nodes} nodes, {gangs} gangs of {gang_size}: batchyard", flush=True)
            gangs_by = await measure(cluster, api, watch, gang_pods(gangs, gang_size, True, "bg"), start_connector,
                                     stop_connector, platform_pids)
        finally:
            platform.stop()
        out["gangs"] = {"batchyard": stranded(gangs_by, gang_size)}
        if "kube-scheduler" in only:  # kube-scheduler tuned, the gangs as pods with a required rack affinity
            async def start_scheduler():
                plane.start_scheduler(qps=5000, burst=5000)

            async def stop_scheduler():
                plane.stop_scheduler()
            print(f"{nodes} nodes, {gangs} gangs of {gang_size}: kube-scheduler (tuned)", flush=True)
            gangs_kube = await measure(cluster, api, watch, gang_pods(gangs, gang_size, False, "kg"), start_scheduler,
                                       stop_scheduler, scheduler_pid)
            out["gangs"]["kube_scheduler_tuned"] = stranded(gangs_kube, gang_size)
    finally:
        watching.cancel()
        await api.close()
    return out


def ready_nodes(cluster) -> int:
    return cluster.kubectl("get", "nodes", "--no-headers").stdout.count(" Ready ")


async def batchyard_platform(infra, logs: Path, quota_text: str | None = None) -> Platform:
    """Starts admission, quota and the scheduler with ``quota_text`` (by default: room for everything)."""
    logs.mkdir(parents=True, exist_ok=True)
    namespace = f"kv{uuid.uuid4().hex[:6]}"
    database = await create_database(infra.database_url)
    await ensure_topics(infra.bootstrap, namespace)
    quota = logs / "quota.yaml"
    quota.write_text(quota_text or quota_yaml())
    platform = Platform(infra.bootstrap, database, namespace, logs, extra_env={
        "BATCHYARD_QUOTA_CONFIG": str(quota), "BATCHYARD_SCHEDULER_PREEMPTION": "false"})
    platform.start(("admission", "quota", "scheduler"))
    await asyncio.sleep(10)
    return platform


async def main(node_counts: list[int], pods: int, only: set[str]) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-kube-vs-"))
    results = []
    with servers() as infra, kube_clusters(["onprem-dc1"]) as clusters:
        cluster = clusters["onprem-dc1"]
        cluster.prepare(namespaces=[NS])
        for nodes in node_counts:
            results.append(await run_nodes(infra, cluster, nodes, pods, 100, 32, root, only))
            print(json.dumps(results[-1], indent=2), flush=True)
    return recorded(results, pods, only, logs=str(root))


def recorded(results: list[dict], pods: int, only: set[str], **extra: object) -> dict:
    """Records the run in benchmarks/results/kube_vs_scheduler.json when both sides ran (the figure is their
    ratio); a one-side run (``--only``) is returned and printed, and the recorded figure is left as it was."""
    fields = dict(pods=pods, runs=results, load_average=round(os.getloadavg()[0], 2), **extra)
    if only != {"batchyard", "kube-scheduler"}:
        print(f"one side only ({', '.join(sorted(only))}): no ratio, benchmarks/results left as they were",
              flush=True)
        return {"name": "kube_vs_scheduler", "value": None, "only": sorted(only), **fields}
    first = results[0]
    ratio = first["batchyard"]["pods_per_s"] / first["kube_scheduler_tuned"]["pods_per_s"]
    return write_result("kube_vs_scheduler", round(ratio, 2), "× kube-scheduler (tuned) pods bound/s", True, 2, CMD,
                        **fields)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--only", choices=["batchyard", "kube-scheduler"], help="run one side only (no ratio)")
    args = parser.parse_args()
    sides = {args.only} if args.only else {"batchyard", "kube-scheduler"}
    print(json.dumps(asyncio.run(main(args.nodes, args.pods, sides)), indent=2))
