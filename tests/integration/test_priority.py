"""Priority change end to end on real Kafka and Postgres with every service and the simulated fleet
(docs/adr/0016-suspend-resume-priority-retries.md), with Kueue's meaning: a pending workload raised goes ahead of
its queue and preempts a lower running one; a running workload lowered becomes a victim of those it now ranks
below; wrong requests are refused with reasons; every service's tables hold the new priority."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from cli.main import app

from libs.events import Tenant, WorkloadPriorityChangeRequested
from libs.platform.observer import FlowObserver, WorkloadView
from libs.platform.publisher import EventPublisher
from tests.integration.test_cancel import NLP, SIGNER, VISION, by, cli, ends, one_runs_two_wait, rows
from tests.integration.test_quota_service import FLAVOR
from tests.support.platforms import simulated_platform

pytestmark = pytest.mark.integration

# vision's cluster queue holds one 8-GPU workload at a time; a higher priority preempts a lower one inside it.
QUEUE = """---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: vision-cq}
spec:
  preemption: {withinClusterQueue: LowerPriority}
  resourceGroups:
    - coveredResources: [cpu, memory, nvidia.com/gpu]
      flavors:
        - name: a100-onprem
          resources:
            - {name: cpu, nominalQuota: 1000}
            - {name: memory, nominalQuota: 10Ti}
            - {name: nvidia.com/gpu, nominalQuota: 8}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {name: default, namespace: vision}
spec: {clusterQueue: vision-cq}
"""


@pytest.fixture
async def platform(kafka_bootstrap, database_url, namespace, tmp_path):
    async with simulated_platform(kafka_bootstrap, database_url, namespace, tmp_path, FLAVOR + QUEUE) as p:
        yield p


def change(wid: str, priority_class: str, tenant: Tenant = VISION, signed_for: Tenant = VISION):
    return WorkloadPriorityChangeRequested(workload_id=wid, tenant=tenant, priority_class=priority_class,
                                           reason="test", producer="test",
                                           token=SIGNER.token(signed_for.org, signed_for.team))


def refusals(view: WorkloadView) -> list[tuple[str, str]]:
    return [(e.request, e.reason) for e in by(view, "WorkloadRequestRefused")]


async def test_raise_a_pending_workload_then_lower_it_while_it_runs(platform, kafka_bootstrap, namespace,
                                                                    database_url):
    o = await FlowObserver(kafka_bootstrap, namespace).start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        # 1. x runs and holds vision's whole quota; a then b wait behind it, all of priority class normal (0).
        await one_runs_two_wait(o, pub, platform, "x", "ab")

        # 2. b is raised to high (100) with the CLI: it goes ahead of a and preempts x, which is requeued.
        done = await cli(kafka_bootstrap, namespace, "priority", "b", "--class", "high", "--org", "acme", "--team",
                         "vision", "--reason", "deadline")
        assert (done.exit_code, done.output) == (0, "priority requested for b\n"), done.output
        assert await o.wait_for(lambda o: o.workloads["b"].state == "running", timeout=120), platform.logs()

        # 3. refusals: a class vision may not use, the class a already has, and nlp acting on vision's workload.
        await pub.publish([change("a", "critical"), change("a", "normal"), change("a", "low", NLP, NLP)])
        assert await o.wait_for(lambda o: len(refusals(o.workloads["a"])) == 3, timeout=60)

        # 4. b is lowered to low (-100) while it runs: it is now below x and a, so one of them preempts it.
        await pub.publish([change("b", "low")])
        assert await o.wait_for(lambda o: ends(o.workloads["b"])
                                and any(o.workloads[w].state == "running" for w in "xa"), timeout=120), \
            platform.logs()
    await o.stop()
    platform.assert_alive()
    x, a, b = (o.workloads[w] for w in "xab")
    assert [e.type for e in ends(x)] == ["WorkloadEvicted"]  # preempted once, by b
    [preempted_x] = by(x, "PreemptionRequested", "quota")
    assert (preempted_x.preemptor, preempted_x.preemptor_priority, preempted_x.victim_priority) == ("b", 100, 0)
    [preempted_b] = by(b, "PreemptionRequested", "quota")
    assert preempted_b.victim_priority == -100 and preempted_b.preemptor in ("x", "a")
    assert [e.type for e in ends(b)] == ["WorkloadEvicted"]
    assert len(by(b, "WorkloadPlaced")) == 1 and b.priority == -100
    changed = by(b, "WorkloadPriorityChanged", "admission")
    assert [(e.previous_class, e.priority_class, e.previous_priority, e.priority) for e in changed] == [
        ("normal", "high", 0, 100), ("high", "low", 100, -100)]
    assert changed[0].changed_by == "me@laptop" and changed[0].reason == "deadline"
    assert len(by(b, "WorkloadPriorityChanged", "quota")) == 2  # forwarded to the scheduler, each once
    assert sorted(refusals(a)) == [("priority", "priority_class_not_allowed"), ("priority", "priority_unchanged"),
                                   ("priority", "tenant_mismatch")]
    assert not by(a, "WorkloadPriorityChanged") and a.priority == 0
    assert await rows(database_url, "select workload_id, priority from quota.workloads order by 1") == [
        ("a", 0), ("b", -100), ("x", 0)]
    assert await rows(database_url, "select workload_id, priority_class from admission.admitted_workloads "
                      "order by 1") == [("a", None), ("b", "low"), ("x", None)]
    audit = await rows(database_url, "select workload_id, outcome, reason from admission.audit_log "
                       "where action = 'priority' order by seq")
    assert [r for r in audit if r[0] == "b"] == [("b", "accepted", None), ("b", "accepted", None)]
    assert not o.dead_letters and not o.undecodable
    # the user's view: `workloads describe b` says what b's priority is now and when each change happened
    described = await asyncio.to_thread(CliRunner().invoke, app, ["workloads", "describe", "b"],
                                        env={"BATCHYARD_DATABASE_URL": database_url, "BATCHYARD_TOKEN": ""})
    assert described.exit_code == 0, described.output
    assert "priority -100" in described.output
    assert described.output.count("priority class changed to") == 2, described.output
    assert "priority class changed to low by ci@acme" in described.output, described.output
