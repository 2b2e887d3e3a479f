"""``batchyard demo --connector kubernetes``: the same demo on real Kubernetes API servers, one per cluster of the
demo fleet (kwok nodes), with one connector per cluster. Teams write BatchJobs into their namespaces; each
workload goes to a cluster whose flavors its team's queue may use (an object runs where it is created)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from cli.demo_report import live_table, summary
from cli.demo_view import live_view
from libs.events import PodSet, WorkloadSpec
from libs.fleet import load_fleet
from libs.fleet.spec import FleetSpec, PoolSpec
from libs.fleet.kube_jobs import batchjob
from libs.fleet.mix import workload_mix
from libs.localinfra.databases import create_database
from libs.localinfra.kube_fleet import clusters_of, set_up
from libs.localinfra.kube_session import KubeCluster, kube_clusters
from libs.localinfra.processes import CORE_SERVICES, Platform
from libs.localinfra.session import servers
from libs.platform.observer import FlowObserver
from libs.platform.topics_admin import ensure_topics

FLEET, QUOTA = Path("deploy/fleet/demo.yaml"), Path("deploy/quota/demo.yaml")
TERMINAL = frozenset({"Succeeded", "Failed", "Refused", "Invalid"})


def team_pools(quota: Path, fleet: FleetSpec) -> dict[str, list[PoolSpec]]:
    """Returns, per team (LocalQueue namespace), the pools of the flavors its cluster queue has."""
    docs = [d for d in yaml.safe_load_all(quota.read_text()) if isinstance(d, dict)]
    labels = {d["metadata"]["name"]: d["spec"].get("nodeLabels", {}) for d in docs if d["kind"] == "ResourceFlavor"}
    queues = {d["metadata"]["name"]: [f["name"] for g in d["spec"]["resourceGroups"] for f in g["flavors"]]
              for d in docs if d["kind"] == "ClusterQueue"}
    def pools_of(flavor: str) -> list[PoolSpec]:  # a flavor naming no cluster spans every cluster with its pool
        want = labels[flavor]
        return [p for p in fleet.pools if p.name == want["batchyard.dev/pool"]
                and want.get("batchyard.dev/cluster", p.cluster) == p.cluster]
    return {d["metadata"]["namespace"]: [p for f in queues[d["spec"]["clusterQueue"]] for p in pools_of(f)]
            for d in docs if d["kind"] == "LocalQueue"}


def home_cluster(spec: WorkloadSpec, pools: list[PoolSpec], salt: int) -> str | None:
    """Returns a cluster where each pod set of ``spec`` has a pool of the team that can hold one of its pods
    (the right GPU model, enough CPU, memory and GPUs per node); None if no cluster can run it all."""
    def fits(ps: PodSet, pool: PoolSpec) -> bool:
        r = ps.requests
        if bool(r.gpu or r.gpu_milli) != bool(pool.gpus):
            return False
        if ps.gpu_model and pool.gpu_model not in ps.gpu_model.split("|"):
            return False
        return r.cpu_milli <= pool.cpu_milli and r.memory_mib <= pool.memory_mib and r.gpu <= pool.gpus
    clusters = sorted({p.cluster for p in pools})
    candidates = [c for c in clusters if all(any(fits(ps, p) for p in pools if p.cluster == c)
                                             for ps in spec.pod_sets)]
    return candidates[salt % len(candidates)] if candidates else None


def demo_jobs(count: int, seed: int, time_scale: float) -> tuple[dict[str, list[dict]], int]:
    """Returns the demo mix as BatchJobs per cluster, plus two that admission must refuse; and how many had no home."""
    pools, per_cluster, homeless = team_pools(QUOTA, load_fleet(FLEET)), {}, 0
    for i, submission in enumerate(workload_mix(count, seed=seed)):
        team = submission.tenant.team
        cluster = home_cluster(submission.spec, pools[team], i)
        if cluster is None:
            homeless += 1
            continue
        per_cluster.setdefault(cluster, []).append(batchjob(submission.spec, submission.spec.name, team,
                                                            time_scale=time_scale))
    root = PodSet(name="main", count=1, privileged=True)
    vip = PodSet(name="main", count=1)
    per_cluster.setdefault("onprem-dc1", []).extend([
        batchjob(WorkloadSpec(name="root-shell", pod_sets=(root,)), "root-shell", "vision", time_scale=time_scale),
        batchjob(WorkloadSpec(name="vip", priority_class="platinum", pod_sets=(vip,)), "vip", "vision",
                 time_scale=time_scale)])
    return per_cluster, homeless


def strike_storms(fleet: FleetSpec, clusters: dict[str, KubeCluster], elapsed_s: float, time_scale: float,
                  struck: set[int]) -> None:
    """Plays the fleet's storms on kwok nodes, as a GPU health agent would report them: the XID goes in the
    node's annotations when the storm is due (``struck`` remembers those already played)."""
    for i, storm in enumerate(fleet.faults.storms):
        if i in struck or elapsed_s < storm.after_s / time_scale:
            continue
        struck.add(i)
        pool = next(p for p in fleet.pools if p.name == storm.pool)
        for index in range(int(storm.share * pool.nodes)):
            clusters[pool.cluster].kubectl("annotate", "--overwrite", "node", f"{pool.name}-{index:04d}",
                                           f"batchyard.dev/gpu-xid={storm.xid}", "batchyard.dev/gpu-xid-gpu=0")


def job_states(clusters: dict[str, KubeCluster]) -> dict[str, Counter]:
    out = {}
    for name, cluster in clusters.items():
        items = json.loads(cluster.kubectl("get", "batchjobs", "-A", "-o", "json").stdout)["items"]
        out[name] = Counter((o.get("status") or {}).get("state") or "Submitted" for o in items)
    return out


def states_table(states: dict[str, Counter]) -> Table:
    table = Table(title="BatchJobs per cluster", caption="kubectl get batchjobs -A, by state")
    columns = sorted({s for c in states.values() for s in c})
    table.add_column("cluster")
    for column in columns:
        table.add_column(column, justify="right")
    for cluster, counts in sorted(states.items()):
        table.add_row(cluster, *(str(counts.get(c, "")) for c in columns))
    return table


async def run_kube_demo(console: Console, *, workloads: int, time_scale: float, seed: int,
                        timeout_s: float = 900) -> int:
    """Runs the demo on Kubernetes; returns the exit code (0 when every BatchJob reached a final state)."""
    fleet = load_fleet(FLEET)
    namespace = f"demo{uuid.uuid4().hex[:6]}"
    logs = Path(tempfile.mkdtemp(prefix="batchyard-demo-logs-"))
    jobs, homeless = demo_jobs(workloads, seed, time_scale)
    with servers(progress=console.print) as infra, kube_clusters(clusters_of(fleet), console.print) as clusters:
        database = await create_database(infra.database_url)
        await ensure_topics(infra.bootstrap, namespace)
        console.print(f"preparing {len(clusters)} clusters: CRDs, RBAC, admission policy, "
                      f"{fleet.node_count} kwok nodes")
        env = set_up(fleet, clusters, logs, time_scale=time_scale, drain_settle_s=fleet.faults.drain_settle_s)
        platform = Platform(infra.bootstrap, database, namespace, logs)
        console.print(f"starting {len(CORE_SERVICES)} services and {len(clusters)} connectors (logs in {logs}) ...")
        platform.start(CORE_SERVICES)
        for name in clusters:
            platform.start_as(f"kube-connector-{name}", "kube-connector", env[name])
        observer = await FlowObserver(infra.bootstrap, namespace).start()
        expected = sum(len(v) for v in jobs.values())
        try:
            started = time.monotonic()
            for name, items in jobs.items():
                clusters[name].apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
            console.print(f"created {expected} BatchJobs ({homeless} of the mix had no cluster for their team)")
            struck: set[int] = set()
            finished = await _watch(console, platform, observer, clusters, expected, timeout_s,
                                    storms=lambda s: strike_storms(fleet, clusters, s, time_scale, struck))
            console.print(states_table(job_states(clusters)))
            console.print(summary(observer, time.monotonic() - started, time_scale, prefix=""))
        finally:
            await observer.stop()
            platform.stop()
    if not finished:
        console.print(f"[red]not every BatchJob finished within {timeout_s:.0f}s[/red]; service logs: {logs}")
        return 1
    return 0


async def _watch(console: Console, platform: Platform, observer: FlowObserver, clusters: dict[str, KubeCluster],
                 expected: int, timeout_s: float, storms) -> bool:
    """Shows the live table until every BatchJob is in a final state; returns whether they all got there."""
    started = time.monotonic()
    deadline = started + timeout_s
    with live_view(console, observer, expected, prefix="") as live:
        while time.monotonic() < deadline:
            platform.assert_alive()
            storms(time.monotonic() - started)
            states = job_states(clusters)
            done = sum(n for c in states.values() for s, n in c.items() if s in TERMINAL)
            live.update(live_table(observer, expected, prefix=""))
            if done >= expected:
                return True
            await asyncio.sleep(2)
    return False
