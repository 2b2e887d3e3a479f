"""Gangs on a real control plane: all of a gang's pods are bound or none is; preemption evicts a whole gang (through
the Eviction API) and it comes back later; node repair cordons and drains a sick node and its gang lands elsewhere."""

from __future__ import annotations

import asyncio
import json

import pytest

from libs.fleet.spec import FaultSpec
from libs.platform.observer import FlowObserver
from tests.support.kube import (
    PLACING, KubePlatform, batchjob, get, gpu_pool, pod_set, pod_template, pods, small_fleet, state,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def bound(cluster, namespace: str, owner: str) -> list[dict]:
    return [p for p in pods(cluster, namespace)
            if p["metadata"]["labels"].get("batchyard.dev/batchjob") == owner and p["spec"].get("nodeName")]


async def until(check, timeout=120) -> bool:
    async def poll():
        return check()
    return await eventually(poll, timeout=timeout, interval=0.5)


async def test_a_64_pod_gang_is_bound_all_or_nothing(kube, services, tmp_path):
    run = KubePlatform.start(services, small_fleet(gpu_pool(nodes=8, nodes_per_rack=4)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    blocker = batchjob("blocker", "nlp", [pod_set("w", 1, pod_template(cpu="4", gpus=8, run_s=15))])
    cluster.apply(stdin=json.dumps(blocker))
    assert await until(lambda: state(cluster, "nlp", "blocker") == "Running"), run.platform.logs()
    gang = batchjob("gang", "nlp", [pod_set("w", 64, pod_template(cpu="1", memory="1Gi", gpus=1, run_s=3))])
    cluster.apply(stdin=json.dumps(gang))
    seen_while_blocked = set()
    while state(cluster, "nlp", "blocker") == "Running":  # 56 GPUs free: the gang of 64 must wait, whole
        seen_while_blocked.add(len(bound(cluster, "nlp", "gang")))
        await asyncio.sleep(0.5)
    assert seen_while_blocked == {0}, "no pod of the gang was bound while it could not all fit"
    assert await until(lambda: state(cluster, "nlp", "gang") == "Succeeded"), run.platform.logs()
    done = bound(cluster, "nlp", "gang")
    assert len(done) == 64 and len({p["metadata"]["name"] for p in done}) == 64
    per_node = {}
    for p in done:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert sorted(per_node.values()) == [8] * 8, "one GPU per pod: eight pods on each eight-GPU node"


async def test_preemption_evicts_the_whole_lower_priority_gang_which_runs_again_later(kube, services, tmp_path,
                                                                                    kafka_bootstrap, namespace):
    services.extra_env["BATCHYARD_SCHEDULER_MIN_RUNTIME_S"] = "0"
    run = KubePlatform.start(services, small_fleet(gpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    low = batchjob("low", "research", [pod_set("w", 2, pod_template(cpu="8", gpus=8, run_s=10))], priorityClass="low")
    cluster.apply(stdin=json.dumps(low))
    assert await until(lambda: state(cluster, "research", "low") == "Running"), run.platform.logs()
    first = {p["metadata"]["name"] for p in bound(cluster, "research", "low")}
    high = batchjob("high", "research", [pod_set("w", 2, pod_template(cpu="8", gpus=8, run_s=3))],
                    priorityClass="high")
    cluster.apply(stdin=json.dumps(high))
    try:
        assert await until(lambda: state(cluster, "research", "high") == "Succeeded"), run.platform.logs()
        assert await until(lambda: state(cluster, "research", "low") == "Succeeded", timeout=180), run.platform.logs()
        status = get(cluster, "batchjob", "low", "-n", "research")["status"]
        wid = status["workloadId"]
        assert await observer.wait_for(lambda o: o.workloads[wid].state == "succeeded", timeout=30)
    finally:
        await observer.stop()
    assert status["attempts"] == 2
    names = {p["metadata"]["name"] for p in pods(cluster, "research")}
    assert not first & names, "every pod of the first attempt was evicted, not just some"
    view = observer.workloads[wid]
    assert len(view.evicted_ids) == 1 and len(view.placed_ids) == 2
    reasons = {e["reason"] for e in get(cluster, "events", "-n", "research")["items"]
               if e["involvedObject"]["name"] == "low"}
    assert "Preempted" in reasons


async def test_node_repair_cordons_and_drains_a_sick_node_and_the_gang_lands_elsewhere(kube, services, tmp_path):
    # event time runs 600x faster than wall time, so node repair's drain grace (600 s) is one second here; repairs
    # take a simulated day (over two minutes), so the node is still out when the gang is placed again
    fleet = small_fleet(gpu_pool(nodes=2)).model_copy(
        update={"faults": FaultSpec(reboot_s=86400, reimage_s=86400, replace_s=86400)})
    run = KubePlatform.start(services, fleet, kube, tmp_path, time_scale=600, services=(*PLACING, "node-repair"))
    cluster = kube["onprem-dc1"]
    job = batchjob("long", "vision", [pod_set("w", 1, pod_template(cpu="8", gpus=8, run_s=20))])
    cluster.apply(stdin=json.dumps(job))
    assert await until(lambda: state(cluster, "vision", "long") == "Running"), run.platform.logs()
    [pod] = bound(cluster, "vision", "long")
    sick = pod["spec"]["nodeName"]
    cluster.kubectl("annotate", "node", sick, "batchyard.dev/gpu-xid=79", "batchyard.dev/gpu-xid-gpu=0")
    assert await until(lambda: get(cluster, "node", sick)["spec"].get("unschedulable") is True), run.platform.logs()
    assert await until(lambda: get(cluster, "batchjob", "long", "-n", "vision")["status"].get("attempts") == 2)
    assert await until(lambda: state(cluster, "vision", "long") == "Succeeded", timeout=180), run.platform.logs()
    [again] = bound(cluster, "vision", "long")
    assert again["spec"]["nodeName"] != sick and again["metadata"]["name"].endswith("-a2")
    evictions = [e for e in get(cluster, "events", "-n", "vision")["items"] if e["reason"] == "NodeDrain"]
    assert evictions and sick in evictions[0]["message"]
