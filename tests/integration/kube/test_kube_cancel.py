"""Cancel on a real control plane: a running BatchJob cancelled through the platform (WorkloadCancelRequested, as
`batchyard cancel` publishes it) has its pods deleted, its status says Cancelled, and its object stays; a running
queue-labelled Job (an operator kind: its controller makes the pods) is suspended and its pods are gone."""

from __future__ import annotations

import json

import pytest

from libs.events import Tenant, WorkloadCancelRequested
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from services.admission.signing import demo_signer
from tests.support.kube import KubePlatform, batchjob, cpu_pool, get, pod_set, pod_template, pods, small_fleet, \
    state
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
NLP = Tenant(org="acme", team="nlp")


async def cancel(kafka_bootstrap: str, namespace: str, workload_id: str) -> None:
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([WorkloadCancelRequested(workload_id=workload_id, tenant=NLP, reason="wrong input",
                                                   producer="test", token=demo_signer("ci@acme").token("acme", "nlp"))])


async def test_a_running_batchjob_cancelled_through_the_platform_has_its_pods_deleted(kube, services,
                                                                                   kafka_bootstrap, namespace,
                                                                                   tmp_path):
    run = KubePlatform.start(services, small_fleet(cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    cluster.apply(stdin=json.dumps(batchjob("long", "nlp", [pod_set("main", 2, pod_template(cpu="2", run_s=3600))])))

    async def running():
        return state(cluster, "nlp", "long") == "Running"
    assert await eventually(running, timeout=120, interval=0.5), run.platform.logs()
    wid = get(cluster, "batchjob", "long", "-n", "nlp")["status"]["workloadId"]
    assert len(pods(cluster, "nlp")) == 2
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    try:
        await cancel(kafka_bootstrap, namespace, wid)

        async def stopped():
            return state(cluster, "nlp", "long") == "Failed" and not pods(cluster, "nlp")
        assert await eventually(stopped, timeout=90, interval=0.5), run.platform.logs()
        assert await observer.wait_for(lambda o: o.workloads[wid].state == "cancelled" and any(
            t == "WorkloadFailed" for t, _, _ in o.workloads[wid].log["batchyard.workload.lifecycle"]), timeout=30), \
            (observer.workloads[wid].state, {topic: [(t, p) for t, p, _ in log]
                                             for topic, log in observer.workloads[wid].log.items()})
    finally:
        await observer.stop()
    run.platform.assert_alive()
    status = get(cluster, "batchjob", "long", "-n", "nlp")["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert (status["reason"], conditions["Finished"], conditions["Running"]) == ("Cancelled", "True", "False")
    assert "cancelled by ci@acme: wrong input" in status["message"]
    ends = [e for t, _, e in observer.workloads[wid].log["batchyard.workload.lifecycle"] if t == "WorkloadFailed"]
    assert [(e.reason, e.producer) for e in ends] == [("cancelled", "kube-connector")]
    # the scheduler forwards the cancellation once; its ``placed`` may be False: the connector acts on admission's
    # copy, and its WorkloadFailed can free the nodes in the scheduler before quota's copy reaches it
    [_] = [e for t, p, e in observer.workloads[wid].log["batchyard.workload.placement"] if t == "WorkloadCancelled"]


async def test_a_running_queue_labelled_job_cancelled_is_suspended_and_its_pods_are_gone(kube, services,
                                                                                      kafka_bootstrap, namespace,
                                                                                      tmp_path):
    run = KubePlatform.start(services, small_fleet(cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "etl", "namespace": "nlp", "labels": {"batchyard.dev/queue": "default"}},
           "spec": {"parallelism": 2, "completions": 2, "completionMode": "Indexed",
                    "template": pod_template(cpu="2", run_s=3600)}}
    cluster.apply(stdin=json.dumps(job))

    def annotations() -> dict:
        return get(cluster, "job", "etl", "-n", "nlp")["metadata"].get("annotations") or {}

    async def running():
        return annotations().get("batchyard.dev/state") == "Running"
    assert await eventually(running, timeout=120, interval=0.5), run.platform.logs()
    assert len(pods(cluster, "nlp")) == 2
    await cancel(kafka_bootstrap, namespace, annotations()["batchyard.dev/workload-id"])

    async def stopped():
        return (annotations().get("batchyard.dev/state") == "Failed"
                and not [p for p in pods(cluster, "nlp") if not p["metadata"].get("deletionTimestamp")])
    assert await eventually(stopped, timeout=90, interval=0.5), run.platform.logs()
    run.platform.assert_alive()
    assert get(cluster, "job", "etl", "-n", "nlp")["spec"]["suspend"] is True  # its controller makes no new pods
    assert annotations()["batchyard.dev/reason"] == "Cancelled"
