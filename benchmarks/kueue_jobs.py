"""The teams, quota file, Jobs and Job watch of kube_vs_kueue (batchyard against Kueue on one API server)."""

from __future__ import annotations

import asyncio
import re
import time

import yaml

from services.kube_connector.api import KubeApi, KubeError
from services.kube_connector.informer import DELETED, Informer

from .kube_vs import IMAGE, until

TEAMS = {"vision": ("acme", "vision"), "nlp": ("acme", "nlp"), "research": ("globex", "research"),
         "speech": ("globex", "speech")}  # namespace -> (org, team); each namespace's LocalQueue is "default"
# team -> (nominal quota, borrowing limit) as fractions of the team's demand (None: no limit). The caps
# (nominal + borrowing limit) add up to the cohort's nominal total, so every team reaches its cap in any order.
SHARES = {"vision": (0.5, 0.25), "nlp": (1.0, None), "research": (1.25, None), "speech": (0.25, 0.0)}
JOB_CPU_M, JOB_MEMORY = 500, "1Gi"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_NAME = re.compile(r"^[a-z0-9]+-(\d{5})$")


def per_team(count: int) -> int:
    if count % len(TEAMS):
        raise ValueError(f"--jobs must be a multiple of {len(TEAMS)} (the teams)")
    return count // len(TEAMS)


def expected_admitted(count: int) -> dict[str, int]:
    """Returns how many Jobs each team ends with admitted: its cap, or its demand if smaller."""
    demand = per_team(count)
    return {t: min(demand, int(demand * nominal) + (int(demand * borrow) if borrow is not None else demand))
            for t, (nominal, borrow) in SHARES.items()}


def quota_yaml(count: int) -> str:
    """Returns the quota file both sides run: one flavor (the kwok pool), a ClusterQueue per team in one cohort,
    and each team's LocalQueue; Kueue's v1beta2 shapes, which batchyard's quota loader reads too."""
    demand = per_team(count)
    docs = [{"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": "basic"},
             "spec": {"nodeLabels": {"batchyard.dev/cluster": "onprem-dc1", "batchyard.dev/pool": "basic"}}}]
    for team, (nominal, borrow) in SHARES.items():
        cpu = {"name": "cpu", "nominalQuota": f"{int(demand * nominal) * JOB_CPU_M}m"}
        if borrow is not None:
            cpu["borrowingLimit"] = f"{int(demand * borrow) * JOB_CPU_M}m"
        docs.append({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": team},
                     "spec": {"cohortName": "org", "queueingStrategy": "BestEffortFIFO",
                              "namespaceSelector": {},
                              "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
                                  {"name": "basic", "resources": [cpu, {"name": "memory",
                                                                        "nominalQuota": "100Ti"}]}]}]}})
        docs.append({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
                     "metadata": {"name": "default", "namespace": team}, "spec": {"clusterQueue": team}})
    return yaml.safe_dump_all(docs, sort_keys=False)


def jobs(count: int, prefix: str) -> list[dict]:
    """Returns ``count`` suspended, queue-labelled one-pod Jobs, dealt to the teams in turn."""
    teams = list(TEAMS)
    out = []
    for i in range(count):
        pod = {"restartPolicy": "Never", "containers": [{"name": "main", "image": IMAGE, "resources": {
            "requests": {"cpu": f"{JOB_CPU_M}m", "memory": JOB_MEMORY}}}]}
        out.append({"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": f"{prefix}-{i:05d}", "namespace": teams[i % len(teams)],
                                 "labels": {QUEUE_LABEL: "default"}},
                    "spec": {"suspend": True, "parallelism": 1, "completions": 1, "backoffLimit": 0,
                             "template": {"spec": pod}}})
    return out


class JobWatch:
    """Follows every Job (admitted = unsuspended) and every pod (running) from two watches."""

    def __init__(self, api: KubeApi) -> None:
        self.jobs_seen: dict[tuple[str, str], bool] = {}  # (namespace, name) -> unsuspended now
        self.admitted: dict[tuple[str, str], float] = {}  # (namespace, name) -> when first seen unsuspended
        self.running: dict[tuple[str, str], float] = {}  # (namespace, Job name) -> when its pod first ran
        self.pods_alive: set[tuple[str, str]] = set()  # (namespace, pod name) of every pod not deleted
        self.workload_admitted: dict[tuple[str, str], float] = {}  # (namespace, Job name) -> Kueue's Admitted
        self.started = time.monotonic()
        self.jobs = Informer(api, "/apis/batch/v1/jobs", self.job_changed, name="bench jobs")
        self.pods = Informer(api, "/api/v1/pods", self.pod_changed, name="bench pods")
        self.workloads = Informer(api, "/apis/kueue.x-k8s.io/v1beta2/workloads", self.workload_changed,
                                  name="bench kueue workloads")

    def reset(self, started: float) -> None:
        self.admitted.clear()
        self.running.clear()
        self.workload_admitted.clear()
        self.started = started

    @property
    def admitted_count(self) -> int:
        return len(self.admitted)

    @property
    def running_count(self) -> int:
        return len(self.running)

    def job_changed(self, change: str, obj: dict) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if change == DELETED:
            self.jobs_seen.pop(key, None)
            return
        unsuspended = not (obj.get("spec") or {}).get("suspend", False)
        self.jobs_seen[key] = unsuspended
        if unsuspended and key not in self.admitted:
            self.admitted[key] = time.monotonic()

    def pod_changed(self, change: str, obj: dict) -> None:
        meta = obj["metadata"]
        if change == DELETED:
            self.pods_alive.discard((meta["namespace"], meta["name"]))
            return
        self.pods_alive.add((meta["namespace"], meta["name"]))
        key = (meta["namespace"], (meta.get("labels") or {}).get("job-name"))
        # a pod of a deleted Job may still report Running: only the Jobs of this round count
        if key in self.jobs_seen and (obj.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(key, time.monotonic())

    def workload_changed(self, change: str, obj: dict) -> None:
        """Kueue's own admission (its Workload's Admitted condition), ahead of its Job being unsuspended."""
        owners = obj["metadata"].get("ownerReferences") or ()
        conditions = (obj.get("status") or {}).get("conditions") or ()
        if change != DELETED and owners and any(c["type"] == "Admitted" and c["status"] == "True"
                                                for c in conditions):
            key = (obj["metadata"]["namespace"], owners[0]["name"])
            if key in self.jobs_seen:
                self.workload_admitted.setdefault(key, time.monotonic())

    def figures(self, want: int, done: bool) -> dict:
        """Returns admissions per second, the times to the first and last admission and to all running, and the
        admitted Jobs per team (by index, so that both sides' sets compare)."""
        admits = sorted(self.admitted.values())
        last = admits[-1] - self.started if admits else None
        runs = sorted(self.running.values())
        admitted_set: dict[str, list[int]] = {t: [] for t in TEAMS}
        for ns, name in self.admitted:
            if (found := JOB_NAME.match(name)) and ns in admitted_set:
                admitted_set[ns].append(int(found[1]))
        return {"admitted": len(admits), "expected": want, "all_done": done,
                "first_admit_s": round(admits[0] - self.started, 2) if admits else None,
                "last_admit_s": round(last, 2) if last else None,
                "admitted_per_s": round(len(admits) / last, 1) if last else None,
                # the drain rate once the first is in (start-up, which differs a lot between the sides, left out)
                "admitted_per_s_after_first": round((len(admits) - 1) / (admits[-1] - admits[0]), 1)
                if len(admits) > 1 and admits[-1] > admits[0] else None,
                "running": len(runs),
                "kueue_workloads_admitted_last_s": round(max(self.workload_admitted.values()) - self.started, 2)
                if self.workload_admitted else None,
                "all_running_s": round(runs[-1] - self.started, 2) if len(runs) >= want else None,
                "admitted_set": {t: sorted(v) for t, v in admitted_set.items()},
                "fifo": fifo_share(admitted_set)}


def fifo_share(admitted_set: dict[str, list[int]]) -> dict[str, str]:
    """Returns, per team, how many of its admitted Jobs are among its first that many by index (Jobs are
    created in index order, so a strictly first-in-first-out side scores all of them)."""
    teams = list(TEAMS)
    out = {}
    for team, got in admitted_set.items():
        if got:
            first = set(range(teams.index(team), len(teams) * (max(got) + 1), len(teams))[:len(got)])
            out[team] = f"{len(first & set(got))}/{len(got)}"
    return out


async def create_jobs(api: KubeApi, items: list[dict], watch: JobWatch) -> None:
    """Creates the Jobs many at a time and waits until the watch has them all."""
    for start in range(0, len(items), 200):
        await asyncio.gather(*(api.create(f"/apis/batch/v1/namespaces/{j['metadata']['namespace']}/jobs", j)
                               for j in items[start:start + 200]))
    await until(lambda: len(watch.jobs_seen) >= len(items), timeout=600)


async def delete_jobs(api: KubeApi, watch: JobWatch) -> None:
    """Deletes every Job (its pods go with it) and waits for the watches to agree."""
    keys = sorted(watch.jobs_seen)
    for start in range(0, len(keys), 200):
        await asyncio.gather(*(_delete(api, ns, name) for ns, name in keys[start:start + 200]))
    await until(lambda: not watch.jobs_seen and not watch.pods_alive, timeout=600)


async def _delete(api: KubeApi, namespace: str, name: str) -> None:
    try:
        await api.request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                          query={"propagationPolicy": "Background", "gracePeriodSeconds": "0"})
    except KubeError as exc:
        if not exc.not_found:
            raise
