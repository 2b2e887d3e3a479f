"""Retries on a real control plane: a BatchJob with ``backoffLimit: 1`` whose pods fail runs twice. The first
failure is retried (its status says Retrying, quota requeues it with backoff, the next attempt's pods are new);
the second is final (Failed). Each failure is numbered in the platform's events."""

from __future__ import annotations

import json

import pytest

from libs.platform.observer import FlowObserver
from services.kube_connector.kinds.batchjob import ATTEMPT_LABEL
from tests.support.kube import KubePlatform, batchjob, cpu_pool, get, pod_set, pod_template, pods, small_fleet, \
    state
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
LIFECYCLE = "batchyard.workload.lifecycle"


async def test_a_failing_batchjob_is_retried_with_fresh_pods_up_to_its_backoff_limit(kube, services,
                                                                                   kafka_bootstrap, namespace,
                                                                                   tmp_path):
    run = KubePlatform.start(services, small_fleet(cpu_pool(nodes=2)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    try:
        cluster.apply(stdin=json.dumps(batchjob("flaky", "nlp", [pod_set("main", 2, pod_template(cpu="2", fail_s=1))],
                                                backoffLimit=1)))

        async def failed():
            return state(cluster, "nlp", "flaky") == "Failed"
        assert await eventually(failed, timeout=180, interval=0.5), run.platform.logs()
        wid = get(cluster, "batchjob", "flaky", "-n", "nlp")["status"]["workloadId"]
        assert await observer.wait_for(lambda o: o.workloads[wid].state == "failed", timeout=30), \
            observer.workloads[wid].state
    finally:
        await observer.stop()
    run.platform.assert_alive()
    view = observer.workloads[wid]
    ends = [e for t, _, e in view.log[LIFECYCLE] if t == "WorkloadFailed"]
    assert [(e.attempt, e.final, e.reason, e.producer) for e in ends] == [
        (1, False, "pod-failed", "kube-connector"), (2, True, "pod-failed", "kube-connector")]
    assert [e.failures for t, p, e in view.log["batchyard.workload.quota"] if t == "QuotaReserved"] == [0, 1]
    # each attempt had pods of its own, labelled by attempt; a failed pod ends its gang (the rest are deleted),
    # so what remains of each attempt is a failed pod or two
    left = [(p["metadata"]["labels"][ATTEMPT_LABEL], p["status"]["phase"]) for p in pods(cluster, "nlp")]
    assert {attempt for attempt, _ in left} == {"1", "2"} and {phase for _, phase in left} == {"Failed"}, left
    status = get(cluster, "batchjob", "flaky", "-n", "nlp")["status"]
    assert status["attempts"] == 2 and status["reason"] == "Failed", status
    events = get(cluster, "events", "-n", "nlp", "--field-selector", "involvedObject.name=flaky")["items"]
    assert any(e["reason"] == "BackoffLimitNotReached" and "failed run 1 of at most 1 retried" in e["message"]
               for e in events), [(e["reason"], e["message"]) for e in events]
