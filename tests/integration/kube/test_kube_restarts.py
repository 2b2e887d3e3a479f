"""Faults on the Kubernetes side: the connector SIGKILLed mid-run and kube-apiserver restarted mid-run. Every object
is submitted once, every workload is placed once and finishes once, and no pod is created or bound twice."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest

from libs.platform.observer import FlowObserver
from tests.support.kube import KubePlatform, batchjob, cpu_pool, get, gpu_pool, pod_set, pod_template, small_fleet
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
TEAMS = ("vision", "nlp", "research")


def jobs(count: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        gpus = rng.choice([0, 0, 1, 2])
        template = pod_template(cpu=str(rng.choice([1, 2, 4])), gpus=gpus, run_s=rng.choice([2, 4, 6]))
        out.append(batchjob(f"job-{i:02d}", TEAMS[i % 3], [pod_set("w", rng.randint(1, 4), template)]))
    return out


def states(cluster) -> Counter:
    return Counter((o.get("status") or {}).get("state") for o in get(cluster, "batchjobs", "-A")["items"])


async def test_a_connector_sigkill_and_an_apiserver_restart_lose_nothing_and_bind_nothing_twice(
        kube, services, tmp_path, kafka_bootstrap, namespace):
    run = KubePlatform.start(services, small_fleet(gpu_pool(nodes=4), cpu_pool(nodes=4)), kube, tmp_path)
    cluster, connector = kube["onprem-dc1"], run.platform.services[run.connector("onprem-dc1")]
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    work = jobs(24)
    doomed = batchjob("doomed", "vision", [pod_set("w", 1, pod_template(run_s=None))])  # runs until deleted
    for obj in [doomed, *work[:12]]:
        cluster.apply(stdin=json.dumps(obj))

    async def some_running():
        return states(cluster)["Running"] + states(cluster)["Succeeded"] >= 3
    assert await eventually(some_running, timeout=120, interval=0.3), run.platform.logs()
    async def doomed_runs():
        return (get(cluster, "batchjob", "doomed", "-n", "vision").get("status") or {}).get("state") == "Running"
    assert await eventually(doomed_runs, timeout=120, interval=0.3), run.platform.logs()
    connector.kill()  # SIGKILL: mid-binding, mid-status, mid-outbox, wherever it was
    cluster.kubectl("delete", "batchjob", "doomed", "-n", "vision")  # deleted while no connector watches
    for obj in work[12:18]:
        cluster.apply(stdin=json.dumps(obj))  # created while no connector watches
    cluster.control_plane.stop_apiserver()
    await asyncio.sleep(2)
    connector.start()  # comes up while the API server is down: it must wait and retry, not die
    await asyncio.sleep(3)
    cluster.control_plane.start_apiserver()
    for obj in work[18:]:
        cluster.apply(stdin=json.dumps(obj))

    async def all_done():
        return states(cluster)["Succeeded"] == len(work)
    try:
        assert await eventually(all_done, timeout=240, interval=1), f"{states(cluster)}\n{run.platform.logs()}"
        assert await observer.wait_for(lambda o: o.counts["WorkloadFailed"] == 1, timeout=60), \
            "the job deleted while the connector was down is given up once it is back"
        await asyncio.sleep(2)  # let any duplicate that would follow reach the observer
    finally:
        await observer.stop()
    run.platform.assert_alive()
    assert observer.counts["WorkloadSubmitted"] == len(work) + 1, "each object submitted exactly once"
    assert observer.counts["WorkloadPlaced"] == len(work) + 1 and observer.counts["WorkloadSucceeded"] == len(work)
    assert observer.counts["WorkloadRunning"] == len(work) + 1 and not observer.counts["WorkloadEvicted"]
    [failed] = [k for k, v in observer.workloads.items() if v.state == "failed"]
    assert ".vision.doomed." in failed
    pods = [p for p in get(cluster, "pods", "-A", "--field-selector", "spec.schedulerName=batchyard")["items"]
            if p["metadata"]["labels"]["batchyard.dev/batchjob"] != "doomed"]
    by_job = Counter(p["metadata"]["labels"]["batchyard.dev/batchjob"] for p in pods)
    assert by_job == Counter({o["metadata"]["name"]: o["spec"]["podSets"][0]["count"] for o in work}), \
        "exactly one pod per placed pod: none created twice, none lost"
    assert all(p["metadata"]["name"].endswith("-a1") and p["status"]["phase"] == "Succeeded" for p in pods)
