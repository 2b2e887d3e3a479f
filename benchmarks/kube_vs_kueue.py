"""kube_vs_kueue: batchyard against Kueue (with kube-scheduler) on the same API server and kwok fleet, in one run.

One quota file, Kueue-shaped, serves both: kubectl applies it for Kueue, batchyard's quota service reads it. Four
teams (a namespace each, LocalQueue ``default``) share one cohort; each ClusterQueue's cap (nominal + borrowing
limit) is chosen so that the caps add up to the cohort's capacity, so whatever the order, every team ends with
the same number of admitted Jobs on both sides (vision borrows a quarter of its demand from research; speech may
not borrow). N one-pod Jobs (500m CPU, 1 GiB), spread evenly over the teams, are created suspended with
``kueue.x-k8s.io/queue-name: default`` while nothing admits; then one side starts and the clock runs:
- Kueue v0.17.0 (kueue_build.py; no webhooks, so Jobs are created suspended) with kube-scheduler (QPS/burst 5000)
  binding the pods, at Kueue's default client QPS/burst (50/100) and tuned (5000/5000);
- batchyard: admission, quota and the scheduler already running, the connector started (no client QPS limit; at
  most 32 API requests in flight).
A Job counts as admitted when it is unsuspended (Kueue does it on admission, batchyard on placement) and as
running when its pod is Running (kwok runs a pod as soon as it is bound, until it is deleted).

Run: .venv/bin/python -m benchmarks.kube_vs_kueue [--jobs 1000] [--only kueue|batchyard]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from libs.localinfra.kube_fleet import set_up
from libs.localinfra.kube_session import KUBE_DEPLOY, kube_clusters
from libs.localinfra.kueue import Kueue, install_kueue_crds
from libs.localinfra.session import servers
from services.kube_connector.api import KubeApi

from .kube_connector import cpu_seconds
from .kube_vs import batchyard_platform, fleet, ready_nodes, until
from .kueue_jobs import TEAMS, JobWatch, create_jobs, delete_jobs, expected_admitted, jobs, quota_yaml
from .record import write_result

CMD = ".venv/bin/python -m benchmarks.kube_vs_kueue"
POLICY_BINDING = "batchyard-queued-jobs"  # deploy/kube/admission-policy.yaml: names batchyard as the scheduler


async def measure(plane, api: KubeApi, watch: JobWatch, prefix: str, count: int, start, stop, pids,
                  logs: Path) -> dict:
    """Creates the Jobs with nothing admitting, starts one side and times it until every Job it should admit is
    admitted and running (or nothing moves for 60 s); returns the figures and the admitted set."""
    await create_jobs(api, jobs(count, prefix), watch)
    apiserver = plane.pids["kube-apiserver"]
    await asyncio.sleep(5)
    want = sum(expected_admitted(count).values())
    cpu0, started = cpu_seconds(apiserver), time.monotonic()
    watch.reset(started)
    await start()
    mine = pids()
    own0 = {name: cpu_seconds(pid) for name, pid in mine.items()}
    reporter = asyncio.create_task(_report(watch, want, started))
    done = await until(lambda: watch.admitted_count >= want and watch.running_count >= want, timeout=1200,
                       stall_s=60, progress=lambda: watch.admitted_count + watch.running_count)
    await asyncio.sleep(5)  # anything admitted beyond the caps would show now
    reporter.cancel()
    result = watch.figures(want, done)
    if not done:  # what the stragglers look like, for the logs
        (watch_log := logs / f"stalled-{prefix}.txt").write_text(
            plane.kubectl("get", "jobs,pods", "-A", "-o", "wide", check=False).stdout)
        print(f"  stalled: jobs and pods in {watch_log}", flush=True)
    result["apiserver_cpu_s"] = round(cpu_seconds(apiserver) - cpu0, 2)
    result["own_cpu_s"] = {name: round(cpu_seconds(pid) - own0[name], 2) for name, pid in mine.items()}
    print(f"  {result['admitted']}/{want} admitted in {result['last_admit_s']}s "
          f"({result['admitted_per_s']}/s), all running at {result['all_running_s']}s", flush=True)
    await delete_jobs(api, watch)  # while the side still runs: Kueue's Workloads hold its finalizer
    await stop()
    return result


async def _report(watch: JobWatch, want: int, started: float) -> None:
    while True:
        await asyncio.sleep(10)
        print(f"  {time.monotonic() - started:5.0f}s: {watch.admitted_count}/{want} admitted, "
              f"{watch.running_count} running", flush=True)


async def run_kueue(cluster, api, watch, count: int, root: Path, only_tuned: bool) -> dict:
    """Kueue at its default client QPS/burst and tuned, kube-scheduler (tuned) binding the pods."""
    plane, out = cluster.control_plane, {}
    cluster.kubectl("delete", "mutatingadmissionpolicybinding", POLICY_BINDING, "--ignore-not-found")
    await _scheduler_of_new_jobs(cluster, "default-scheduler")
    plane.start_scheduler(qps=5000, burst=5000)
    try:
        settings = [("kueue_tuned", 5000, 5000)] if only_tuned else [("kueue_default", 50, 100),
                                                                       ("kueue_tuned", 5000, 5000)]
        for label, qps, burst in settings:
            print(f"{count} Jobs: Kueue, client QPS {qps} burst {burst}", flush=True)
            kueue = Kueue(plane, root / label, qps=qps, burst=burst)

            async def start(kueue=kueue):
                kueue.start()

            async def stop(kueue=kueue):
                for _ in range(150):  # asked every 2 s, up to 5 minutes
                    if not _workloads(cluster):
                        break
                    await asyncio.sleep(2)
                kueue.stop()

            def pids(kueue=kueue):
                return {"kueue": kueue.pid, "kube-scheduler": plane.pids["kube-scheduler"],
                        "kube-controller-manager": plane.pids["kube-controller-manager"]}
            out[label] = await measure(plane, api, watch, f"k{qps}", count, start, stop, pids, root)
    finally:
        plane.stop_scheduler()
        cluster.apply(KUBE_DEPLOY / "admission-policy.yaml")
        await _scheduler_of_new_jobs(cluster, "batchyard")
    return out


async def _scheduler_of_new_jobs(cluster, scheduler: str) -> None:
    """Waits until the API server's admission policies give a new queue-labelled Job's pods ``scheduler`` (a
    policy binding deleted or applied a moment ago still holds, or not yet, for a second or so)."""
    probe = json.dumps(jobs(4, "probe")[0])
    for _ in range(60):
        got = cluster.kubectl("create", "--dry-run=server", "-f", "-", "-o",
                              "jsonpath={.spec.template.spec.schedulerName}", stdin=probe).stdout
        if got == scheduler:
            return
        await asyncio.sleep(1)
    raise RuntimeError(f"new Jobs still get scheduler {got!r}, not {scheduler!r}")


def _workloads(cluster) -> list[str]:
    """Returns Kueue's Workloads left (they go with their Jobs, once Kueue lifts its finalizer)."""
    return cluster.kubectl("get", "workloads.kueue.x-k8s.io", "-A", "--no-headers",
                           check=False).stdout.splitlines()


async def run_batchyard(infra, cluster, api, watch, env: dict, count: int, root: Path, quota: Path) -> dict:
    platform = await batchyard_platform(infra, root / "batchyard", quota.read_text())
    plane = cluster.control_plane

    def pids() -> dict[str, int]:
        out = {name: s.proc.pid for name, s in platform.services.items() if s.proc and s.proc.poll() is None}
        return {**out, "kube-controller-manager": plane.pids["kube-controller-manager"]}

    async def start():
        platform.start_as("kube-connector-onprem-dc1", "kube-connector", env["onprem-dc1"])

    async def stop():
        platform.services["kube-connector-onprem-dc1"].stop()
    try:
        print(f"{count} Jobs: batchyard", flush=True)
        return await measure(plane, api, watch, "b", count, start, stop, pids, root)
    finally:
        platform.stop()


def agreement(runs: dict) -> dict:
    """Returns, for each Kueue run, whether its admitted set per team (and Job by Job) is batchyard's."""
    if "batchyard" not in runs:
        return {}
    ours = runs["batchyard"]["admitted_set"]
    out = {}
    for label, run in runs.items():
        if label == "batchyard":
            continue
        theirs = run["admitted_set"]
        per_team = {t: (len(ours.get(t, ())), len(theirs.get(t, ()))) for t in TEAMS}
        same = {t: len(set(ours.get(t, ())) & set(theirs.get(t, ()))) for t in TEAMS}
        out[label] = {"counts_agree": all(a == b for a, b in per_team.values()),
                      "sets_identical": all(set(ours.get(t, ())) == set(theirs.get(t, ())) for t in TEAMS),
                      "per_team_counts_batchyard_kueue": per_team, "per_team_jobs_in_both": same}
    return out


async def main(count: int, sides: set[str], only_tuned: bool) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-kube-vs-kueue-"))
    quota = root / "quota.yaml"
    quota.write_text(quota_yaml(count))
    nodes = max(100, count // 4)  # 4 CPU each: room for every Job twice over
    with servers() as infra, kube_clusters(["onprem-dc1"]) as clusters:
        cluster = clusters["onprem-dc1"]
        env = set_up(fleet(nodes), {"onprem-dc1": cluster}, root, tenants=TEAMS)
        for ns in TEAMS:
            cluster.kubectl("create", "namespace", ns, check=False)
        # the flavor's nodeLabels: Kueue puts them in the pods' nodeSelector (kwok nodes carry no cluster label)
        cluster.kubectl("label", "nodes", "--all", "--overwrite", "batchyard.dev/cluster=onprem-dc1")
        install_kueue_crds(cluster)
        cluster.apply(quota)
        await until(lambda: ready_nodes(cluster) >= nodes, timeout=600)
        api = await KubeApi.connect(str(cluster.kubeconfig), concurrency=32)
        watch = JobWatch(api)
        watching = [asyncio.create_task(i.run()) for i in (watch.jobs, watch.pods, watch.workloads)]
        runs: dict = {}
        try:
            if "kueue" in sides:
                runs.update(await run_kueue(cluster, api, watch, count, root, only_tuned))
            if "batchyard" in sides:
                runs["batchyard"] = await run_batchyard(infra, cluster, api, watch, env, count, root, quota)
        finally:
            for task in watching:
                task.cancel()
            await asyncio.gather(*watching, return_exceptions=True)
            await api.close()
    agree = agreement(runs)
    for run in runs.values():
        run["admitted_set"] = {t: len(v) for t, v in run["admitted_set"].items()}
    return recorded(runs, agree, count, nodes, sides, only_tuned, logs=str(root))


def recorded(runs: dict, agree: dict, count: int, nodes: int, sides: set[str], only_tuned: bool,
             **extra: object) -> dict:
    """Records the run in benchmarks/results/kube_vs_kueue.json when both sides ran (the figure is their ratio);
    a one-side run (``--only``) is returned and printed, and the recorded figure is left as it was."""
    command = f"{CMD} --jobs {count}" + (" --tuned-only" if only_tuned else "")
    fields = dict(jobs=count, nodes=nodes, expected=expected_admitted(count), runs=runs, agreement=agree,
                  load_average=[round(x, 2) for x in os.getloadavg()], **extra)
    if "batchyard" not in runs or "kueue_tuned" not in runs:
        print(f"one side only ({', '.join(sorted(sides))}): no ratio, benchmarks/results left as they were",
              flush=True)
        return {"name": "kube_vs_kueue", "value": None, "command": f"{command} --only {next(iter(sides))}",
                **fields}
    ratio = runs["batchyard"]["admitted_per_s"] / runs["kueue_tuned"]["admitted_per_s"]
    return write_result("kube_vs_kueue", round(ratio, 2), "× Kueue (tuned) Jobs admitted/s", True, 5, command,
                        **fields)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="Jobs in all (a multiple of 4, the teams)")
    parser.add_argument("--only", choices=["kueue", "batchyard"], help="run one side only (no ratio)")
    parser.add_argument("--tuned-only", action="store_true", help="skip Kueue at its default client QPS")
    args = parser.parse_args()
    sides = {args.only} if args.only else {"kueue", "batchyard"}
    print(json.dumps(asyncio.run(main(args.jobs, sides, args.tuned_only)), indent=2))
