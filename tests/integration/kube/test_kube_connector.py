"""The Kubernetes connector on a real control plane: BatchJobs and queue-labelled Jobs in, pods bound where the
scheduler placed them, phases and status back; bad objects told why, without stopping anything else."""

from __future__ import annotations

import json

import pytest

from libs.platform.observer import FlowObserver
from tests.support.kube import KubePlatform, batchjob, cpu_pool, get, gpu_pool, pod_set, pod_template, pods, \
    small_fleet, state
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def _state_is(cluster, namespace, name, *wanted, timeout=90) -> bool:
    async def check():
        return state(cluster, namespace, name) in wanted
    return await eventually(check, timeout=timeout, interval=0.5)


async def test_a_batchjob_runs_on_the_nodes_it_was_placed_on_and_reports_back(kube, services, kafka_bootstrap,
                                                                              namespace, tmp_path):
    run = KubePlatform.start(services, small_fleet(gpu_pool(nodes=2), cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    job = batchjob("train", "nlp", [
        pod_set("launcher", 1, pod_template(cpu="2", memory="4Gi", run_s=6)),
        pod_set("workers", 4, pod_template(cpu="8", memory="32Gi", gpus=2, run_s=6),
                topology={"level": "rack", "mode": "required"})], workloadKind="pytorch")
    cluster.apply(stdin=json.dumps(job))
    try:
        assert await _state_is(cluster, "nlp", "train", "Succeeded"), run.platform.logs()
        status = get(cluster, "batchjob", "train", "-n", "nlp")["status"]
        wid = status["workloadId"]
        # the status is written as the event is committed; the event reaches Kafka (and the observer) a moment later
        assert await observer.wait_for(lambda o: o.workloads[wid].state == "succeeded", timeout=30)
    finally:
        await observer.stop()
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"QuotaReserved": "True", "Admitted": "True", "Running": "False", "Finished": "True",
                          "Evicted": "False"}
    assert len(observer.workloads[wid].placed_ids) == 1
    placed = {(p["metadata"]["labels"]["batchyard.dev/pod-set"], p["spec"]["nodeName"]) for p in pods(cluster, "nlp")}
    assert len(pods(cluster, "nlp")) == 5, "one pod per placed pod, no more"
    assert {ps for ps, _ in placed} == {"launcher", "workers"}
    assert all(p["spec"]["schedulerName"] == "batchyard" for p in pods(cluster, "nlp"))
    events = get(cluster, "events", "-n", "nlp", "--field-selector", "involvedObject.kind=BatchJob")["items"]
    assert {"Submitted", "QuotaReserved", "Admitted", "Running", "Succeeded"} <= {e["reason"] for e in events}
    printed = cluster.kubectl("get", "batchjobs", "-n", "nlp").stdout
    assert "QUEUE" in printed and "STATE" in printed and "Succeeded" in printed


async def test_a_queue_labelled_job_is_suspended_at_creation_then_run_by_batchyard(kube, services, tmp_path):
    KubePlatform.start(services, small_fleet(cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "etl", "namespace": "vision", "labels": {"batchyard.dev/queue": "default"}},
           "spec": {"parallelism": 3, "completions": 3, "completionMode": "Indexed",
                    "template": pod_template(cpu="2", run_s=3)}}
    cluster.apply(stdin=json.dumps(job))
    created = get(cluster, "job", "etl", "-n", "vision")
    assert created["spec"]["suspend"] is True, "the admission policy suspends it before any pod exists"
    assert created["spec"]["template"]["spec"]["schedulerName"] == "batchyard"

    async def complete():
        j = get(cluster, "job", "etl", "-n", "vision")
        annotations = j["metadata"].get("annotations") or {}
        return annotations.get("batchyard.dev/state") == "Succeeded"
    assert await eventually(complete, timeout=90, interval=0.5), services.logs()
    done = pods(cluster, "vision")
    assert len(done) == 3 and all(p["spec"]["nodeName"].startswith("cpu-") for p in done)


async def test_bad_objects_get_a_reason_and_an_event_and_good_ones_still_run(kube, services, tmp_path):
    run = KubePlatform.start(services, small_fleet(cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    cluster.kubectl("create", "namespace", "strangers", check=False)
    bad = [
        batchjob("no-team", "strangers", [pod_set("main", 1, pod_template())]),
        batchjob("no-limits", "vision", [pod_set("main", 1, {"spec": {"containers": [{
            "name": "main", "image": "registry.batchyard.dev/batch/runner:1",
            "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}})]),
        batchjob("no-containers", "vision", [pod_set("main", 1, {"spec": {"containers": []}})]),
        batchjob("root", "vision", [pod_set("main", 1, pod_template(
            securityContext={}, hostNetwork=True))]),
        batchjob("too-big", "vision", [pod_set("main", 1, pod_template(cpu="500"))]),
        batchjob("bad-queue", "vision", [pod_set("main", 1, pod_template())], queue="nosuch"),
    ]
    for obj in bad:
        cluster.apply(stdin=json.dumps(obj))
    good = batchjob("fine", "vision", [pod_set("main", 2, pod_template(run_s=2))])
    cluster.apply(stdin=json.dumps(good))
    assert await _state_is(cluster, "vision", "fine", "Succeeded"), run.platform.logs()
    assert await _state_is(cluster, "strangers", "no-team", "Invalid")
    assert await _state_is(cluster, "vision", "no-limits", "Invalid")
    assert await _state_is(cluster, "vision", "no-containers", "Invalid")
    assert await _state_is(cluster, "vision", "root", "Refused")
    reasons = {o["metadata"]["name"]: o.get("status", {}) for o in get(cluster, "batchjobs", "-A")["items"]}
    assert reasons["no-team"]["reason"] == "UnknownNamespace"
    assert "Limit must be set" in reasons["no-limits"]["message"], "the API server's own words"
    assert reasons["no-containers"]["reason"] == "InvalidPodTemplate"
    assert "host" in reasons["root"]["message"].lower()

    async def explained(name):
        async def check():
            s = get(cluster, "batchjob", name, "-n", "vision").get("status") or {}
            return s.get("state") in ("Pending", "QuotaReserved", "Refused") and s.get("reason") not in (
                None, "Submitted", "Accepted")
        return await eventually(check, timeout=60, interval=0.5)
    assert await explained("too-big"), get(cluster, "batchjob", "too-big", "-n", "vision")
    assert await explained("bad-queue"), get(cluster, "batchjob", "bad-queue", "-n", "vision")
    warnings = get(cluster, "events", "-n", "vision", "--field-selector", "type=Warning")["items"]
    assert {"no-limits", "no-containers", "root"} <= {e["involvedObject"]["name"] for e in warnings}
    run.platform.assert_alive()
    assert not [p for p in pods(cluster, "vision") if p["metadata"]["labels"].get("batchyard.dev/batchjob")
                in {"no-limits", "no-containers", "root", "too-big", "bad-queue"}], "no pod for a bad object"


async def test_plain_queue_labelled_pods_and_a_pod_group_are_bound_by_batchyard(kube, services, tmp_path):
    run = KubePlatform.start(services, small_fleet(cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]

    def plain(name: str, group: str | None = None, total: int = 1) -> dict:
        template = pod_template(cpu="2", run_s=3)
        labels = {"batchyard.dev/queue": "default", **({"batchyard.dev/pod-group": group} if group else {})}
        annotations = {**template["metadata"]["annotations"],
                       **({"batchyard.dev/pod-group-total-count": str(total)} if group else {})}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "research", "labels": labels, "annotations": annotations},
                "spec": {**template["spec"], "schedulerName": "batchyard"}}

    items = [plain("solo"), *(plain(f"ring-{i}", "ring", 4) for i in range(3))]
    cluster.apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

    def phases() -> dict:
        return {p["metadata"]["name"]: (p["status"].get("phase"), p["spec"].get("nodeName"))
                for p in pods(cluster, "research")}

    async def solo_done():
        return phases().get("solo", (None,))[0] == "Succeeded"
    assert await eventually(solo_done, timeout=90, interval=0.5), run.platform.logs()
    assert all(node is None for name, (_, node) in phases().items() if name.startswith("ring")), \
        "three pods of a group of four wait, unbound"
    cluster.apply(stdin=json.dumps(plain("ring-3", "ring", 4)))

    async def ring_done():
        return sum(1 for n, (phase, _) in phases().items() if n.startswith("ring") and phase == "Succeeded") == 4
    assert await eventually(ring_done, timeout=90, interval=0.5), run.platform.logs()
