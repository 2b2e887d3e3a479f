"""Spot capacity on a real control plane: a node the cloud takes back (deleted, or tainted for reclaim) evicts its
work, which is requeued and runs again on another node."""

from __future__ import annotations

import json

import pytest

from tests.support.kube import KubePlatform, batchjob, cpu_pool, get, pod_set, pod_template, pods, small_fleet, state
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def bound(cluster, namespace: str, owner: str) -> list[dict]:
    """The owner's bound pods not being deleted (a reclaimed node's pod lingers, terminating, until pod GC)."""
    return [p for p in pods(cluster, namespace)
            if p["metadata"]["labels"].get("batchyard.dev/batchjob") == owner and p["spec"].get("nodeName")
            and not p["metadata"].get("deletionTimestamp")]


async def until(check, timeout=120) -> bool:
    async def poll():
        return check()
    return await eventually(poll, timeout=timeout, interval=0.5)


async def test_a_reclaimed_spot_node_requeues_its_work_which_runs_elsewhere(kube, services, tmp_path):
    # the one-cluster quota config's CPU flavor names pool "cpu": here, three spot nodes
    fleet = small_fleet(cpu_pool("cpu", nodes=3, instance_type="m7i.8xlarge", price_per_hour="0.65", pricing="spot"))
    run = KubePlatform.start(services, fleet, kube, tmp_path)
    cluster = kube["onprem-dc1"]
    job = batchjob("spot", "nlp", [pod_set("w", 1, pod_template(cpu="48", run_s=25))])  # one pod fills a node
    cluster.apply(stdin=json.dumps(job))
    assert await until(lambda: state(cluster, "nlp", "spot") == "Running"), run.platform.logs()
    [pod] = bound(cluster, "nlp", "spot")
    deleted = pod["spec"]["nodeName"]
    cluster.kubectl("delete", "node", deleted, "--wait=false")  # taken back without notice
    assert await until(lambda: attempts(cluster) == 2 and state(cluster, "nlp", "spot") == "Running"), \
        run.platform.logs()
    [pod] = bound(cluster, "nlp", "spot")
    tainted = pod["spec"]["nodeName"]
    assert tainted != deleted and pod["metadata"]["name"].endswith("-a2")
    # taken back with notice: the interruption handler taints the node
    cluster.kubectl("taint", "node", tainted, "batchyard.dev/spot-reclaim=true:NoSchedule")
    assert await until(lambda: attempts(cluster) == 3), run.platform.logs()
    assert await until(lambda: state(cluster, "nlp", "spot") == "Succeeded", timeout=180), run.platform.logs()
    [last] = bound(cluster, "nlp", "spot")
    assert last["spec"]["nodeName"] not in (deleted, tainted) and last["metadata"]["name"].endswith("-a3")
    reasons = [e["message"] for e in get(cluster, "events", "-n", "nlp")["items"]
               if e["involvedObject"]["name"] == "spot" and e["reason"] == "NodeReclaimed"]
    assert any("deleted" in m for m in reasons) and any("spot-reclaim" in m for m in reasons), reasons


def attempts(cluster) -> int | None:
    return get(cluster, "batchjob", "spot", "-n", "nlp")["status"].get("attempts")
