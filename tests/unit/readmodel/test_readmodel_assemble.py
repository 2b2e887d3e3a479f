"""The workload read model's pure assembly: state, outcome, why it waits and from whom, the timeline's order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from libs.readmodel.assemble import outcome_of, state_of, steps_of, summarize, trace_id, waiting_of

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ADMISSION = {"cluster_queue": "vision-cq", "node_labels": {}, "pod_sets": [
    {"pod_set": "train", "flavors": {"cpu": "a100-onprem", "nvidia.com/gpu": "a100-onprem"}, "count": 1, "usage": []}]}


def quota(state="pending", placed=False, **kw) -> dict:
    return {"workload_id": "w", "org": "acme", "team": "vision", "local_queue": "default",
            "cluster_queue": "vision-cq", "priority": 0, "state": state, "placed": placed, "name": "w", "kind": "ray",
            "admission": json.dumps(ADMISSION) if state == "reserved" else None, "attempts": 0,
            "pending_reason": None, "pending_message": None, "trace": "{}", "created_at": 0.0, "reserved_at": None,
            **kw}


def verdict(outcome="accepted", **kw) -> dict:
    return {"workload_id": "w", "org": "acme", "team": "vision", "queue": "default", "outcome": outcome,
            "reason": None, "rule": None, "message": "ok", "subject": "ci@acme", "decided_at": T0, "action": "submit",
            **kw}


def event(type_: str, seq: int, reason=None, message=None, cluster="onprem-dc1", **detail) -> dict:
    return {"workload_id": "w", "type": type_, "seq": seq, "producer": "scheduler", "occurred_at": T0,
            "cluster": cluster, "reason": reason, "message": message, "detail": json.dumps(detail)}


@pytest.mark.parametrize(("q", "v", "expected"), [
    pytest.param(None, verdict("rejected"), "refused", id="refused-by-admission"),
    pytest.param(None, verdict(), "pending", id="accepted-not-yet-in-quota"),
    pytest.param(quota(), verdict(), "pending", id="waiting-for-quota"),
    pytest.param(quota("reserved"), verdict(), "pending", id="waiting-for-nodes"),
    pytest.param(quota("reserved", placed=True), verdict(), "running", id="placed"),
    pytest.param(quota("finished"), verdict(), "finished", id="finished"),
    pytest.param(quota("suspended"), verdict(), "suspended", id="suspended-not-pending"),
])
def test_state(q, v, expected):
    assert state_of(q, v) == expected


@pytest.mark.parametrize(("types", "expected"), [
    pytest.param([("WorkloadEvicted", "preempted"), ("WorkloadSucceeded", None)], "succeeded", id="evicted-then-ok"),
    pytest.param([("WorkloadFailed", "cancelled")], "cancelled", id="stopped-by-cancel"),
    pytest.param([("WorkloadCancelled", "cancelled")], "cancelled", id="cancelled-while-pending"),
    pytest.param([("WorkloadFailed", "oom")], "failed", id="failed"),
    pytest.param([], None, id="no-end-seen"),
])
def test_outcome(types, expected):
    assert outcome_of([event(t, i, reason=r) for i, (t, r) in enumerate(types)]) == expected


def test_waiting_for_quota_gives_quotas_reason_and_position():
    q = quota(pending_reason="QuotaExhausted", pending_message="vision-cq at 100% of nominal nvidia.com/gpu")
    s = summarize("w", q, verdict(), [], 2, 0)
    w = waiting_of(s, q, [], None)
    assert (w.source, w.reason, w.position, w.cluster_queue) == ("quota", "QuotaExhausted", 2, "vision-cq")
    assert "100% of nominal" in w.message


def test_waiting_for_nodes_gives_the_schedulers_reason_from_its_table_else_from_the_timeline():
    q = quota("reserved")
    said = [event("WorkloadPlaced", 1, nodes=["n1"]), event("WorkloadEvicted", 2, "preempted"),
            event("WorkloadUnschedulable", 3, "Unschedulable", "0/76 nodes: 40 lack H100, 12 cordoned")]
    s = summarize("w", q, verdict(), said, None, 0)
    assert s.position is None and s.cluster == "onprem-dc1"
    assert waiting_of(s, q, said, "0/76 nodes: all full").message == "0/76 nodes: all full"
    w = waiting_of(s, q, said, None)
    assert (w.source, w.reason, w.message) == ("scheduler", "Unschedulable", "0/76 nodes: 40 lack H100, 12 cordoned")
    assert "not placed it yet" in waiting_of(s, q, said[:2], None).message  # reserved again, nothing said yet


def test_a_refused_workload_is_not_waiting_and_has_its_rule():
    v = verdict("rejected", reason="policy_violation", rule="pod.privileged", message="privileged containers")
    s = summarize("w", None, v, [], None, 0)
    assert s.state == "refused" and waiting_of(s, None, [], None) is None
    [step] = steps_of([v], None, [])
    assert (step.kind, step.reason, step.rule) == ("refused", "policy_violation", "pod.privileged")


def test_timeline_puts_the_current_reservation_before_its_placement_and_the_cancel_before_its_end():
    events = [event("WorkloadUnschedulable", 1, "Unschedulable", "full"), event("WorkloadPlaced", 2, nodes=["n1"]),
              event("WorkloadRunning", 3)]
    kinds = [s.kind for s in steps_of([verdict()], quota("reserved", placed=True), events)]
    assert kinds == ["submitted", "reserved", "unschedulable", "placed", "running"]
    ended = events + [event("WorkloadFailed", 4, "cancelled"), event("WorkloadCancelled", 5, "cancelled")]
    audit = [verdict(), verdict(action="cancel", subject="me@laptop")]
    kinds = [s.kind for s in steps_of(audit, quota("finished"), ended)]
    assert kinds == ["submitted", "unschedulable", "placed", "running", "cancel-requested", "failed", "cancelled"]


def test_requeued_and_reserved_again_the_reservation_follows_the_eviction():
    events = [event("WorkloadPlaced", 1, nodes=["n1"]), event("PreemptionRequested", 2, "InCohortReclamation"),
              event("WorkloadEvicted", 3, "preempted")]
    steps = steps_of([verdict()], quota("reserved", attempts=1), events)
    assert [s.kind for s in steps] == ["submitted", "placed", "preempted", "evicted", "reserved"]
    assert steps[-1].facts == {"cluster_queue": "vision-cq", "flavors": {"train": ("a100-onprem",)}}


def test_trace_id_comes_from_quotas_stored_context():
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id(quota(trace=json.dumps({"traceparent": parent}))) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id(quota()) is None and trace_id(None) is None


def test_suspend_resume_and_priority_requests_are_their_own_steps_in_time_order():
    later = T0.replace(minute=5)
    events = [event("WorkloadPlaced", 1, nodes=["n1"]), event("WorkloadRunning", 2),
              {**event("WorkloadEvicted", 3, "suspended"), "occurred_at": later.replace(minute=7)}]
    audit = [verdict(), verdict(action="priority", priority_class="high", subject="me@laptop", decided_at=later),
             verdict("rejected", action="priority", priority_class="critical", reason="priority_class_not_allowed",
                     decided_at=later.replace(minute=6)),
             verdict(action="suspend", decided_at=later.replace(minute=6, second=30)),
             verdict(action="resume", decided_at=later.replace(minute=9))]
    steps = steps_of(audit, quota("pending"), events)
    assert [s.kind for s in steps] == ["submitted", "placed", "running", "priority-changed", "priority-refused",
                                       "suspend-requested", "evicted", "resume-requested"]
    assert steps[3].facts == {"by": "me@laptop", "queue": "default", "priority_class": "high"}


def test_a_refused_workload_s_trace_id_comes_from_admission_s_audit_row():
    refused = verdict("rejected", reason="policy_violation", trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    assert trace_id(None, [refused]) == "4bf92f3577b34da6a3ce929d0e0e4736"
    later = verdict(trace_id="0af7651916cd43dd8448eb211c80319c")
    assert trace_id(None, [refused, later, verdict(action="cancel", trace_id="ff" * 16)]) == later["trace_id"]
    assert trace_id(None, [verdict()]) is None  # decided with tracing off


def test_a_retried_failure_is_its_own_step_and_only_a_final_failure_is_the_outcome():
    retried = event("WorkloadFailed", 1, reason="pod-failed", attempt=1, retried=True)
    final = event("WorkloadFailed", 3, reason="pod-failed", attempt=2, retried=False)
    ok = event("WorkloadSucceeded", 3)
    assert outcome_of([retried, ok]) == "succeeded"
    assert outcome_of([retried, final]) == "failed"
    assert outcome_of([retried]) is None  # requeued: it has not ended
    steps = steps_of([verdict()], quota("finished"), [event("WorkloadPlaced", 0), retried, event("WorkloadPlaced", 2),
                                                      final])
    assert [(s.kind, s.facts.get("attempt")) for s in steps] == [
        ("submitted", None), ("placed", None), ("retried", 1), ("placed", None), ("failed", 2)]
    assert "retried" not in steps[1].facts


def test_summary_counts_retried_failures_apart_from_evictions():
    summary = summarize("w", quota("pending", attempts=3, failures=2), verdict(), [], None, 0)
    assert (summary.attempts, summary.failures) == (3, 2)


def test_a_run_read_before_its_placement_still_follows_it():
    # cost reporting may read the lifecycle topic's "running" before the placement topic's "placed" (CI saw it)
    running, placed = event("WorkloadRunning", 1), event("WorkloadPlaced", 2, nodes=["n1"])
    steps = steps_of([verdict()], quota("reserved", placed=True), [running, placed])
    assert [s.kind for s in steps] == ["submitted", "reserved", "placed", "running"]
    retried = event("WorkloadFailed", 3, reason="pod-failed", attempt=1, retried=True)
    again = [event("WorkloadRunning", 4), event("WorkloadPlaced", 5), event("WorkloadSucceeded", 6)]
    steps = steps_of([verdict()], quota("finished"), [placed, running, retried, *again])
    assert [s.kind for s in steps] == ["submitted", "placed", "running", "retried", "placed", "running", "succeeded"]
    deleted = event("WorkloadFailed", 1, reason="deleted")  # never placed: its end stays
    assert [s.kind for s in steps_of([verdict()], quota("finished"), [deleted])] == ["submitted", "failed"]
