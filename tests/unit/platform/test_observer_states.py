"""The observer's picture of a workload does not depend on how it interleaves its topics: a cancelled run ends
"cancelled" whether the runner's WorkloadFailed (lifecycle topic) or a WorkloadCancelled copy is read first."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from datetime import UTC, datetime

import pytest

from libs.events import (PodSet, Resources, Tenant, WorkloadAccepted, WorkloadCancelled, WorkloadFailed,
                         WorkloadPriorityChanged, WorkloadRunning, WorkloadSpec, encode)
from libs.platform.observer import FlowObserver, WorkloadView

WID = "w-1"
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _end_events():
    return [WorkloadCancelled(workload_id=WID, cancelled_at=NOW, producer="admission"),
            WorkloadCancelled(workload_id=WID, cancelled_at=NOW, producer="scheduler", placed=False),
            WorkloadFailed(workload_id=WID, cluster="c", reason="cancelled", producer="kube-connector")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_cancelled_run_is_cancelled_in_any_reading_order(order):
    view = WorkloadView()
    FlowObserver._apply(view, WorkloadRunning(workload_id=WID, cluster="c"))
    events = _end_events()
    for i in order:
        FlowObserver._apply(view, events[i])
    assert view.state == "cancelled"


def test_a_run_that_failed_on_its_own_stays_failed():
    view = WorkloadView()
    FlowObserver._apply(view, WorkloadRunning(workload_id=WID, cluster="c"))
    FlowObserver._apply(view, WorkloadFailed(workload_id=WID, cluster="c", reason="oom-killed"))
    assert view.state == "failed"



def test_the_priority_is_admission_s_latest_word_and_not_a_state():
    """Read from records as the observer reads them: a priority change is kept though it is not a state."""
    tenant = Tenant(org="acme", team="vision")
    spec = WorkloadSpec(name="w", pod_sets=(PodSet(name="p", count=1, requests=Resources(cpu_milli=1)),))
    observer = FlowObserver("127.0.0.1:9")
    events = [("admission", WorkloadAccepted(workload_id=WID, tenant=tenant, spec=spec, producer="admission")),
              ("lifecycle", WorkloadRunning(workload_id=WID, tenant=tenant, cluster="dc1", producer="sim-fleet")),
              *((topic, WorkloadPriorityChanged(workload_id=WID, tenant=tenant, priority_class="high",
                                                priority=priority, changed_at=NOW, producer=producer))
                for topic, producer, priority in (("admission", "admission", 100), ("quota", "quota", 7)))]
    for topic, event in events:
        observer._observe(SimpleNamespace(value=encode(event), topic=f"batchyard.workload.{topic}", headers=[]))
    view = observer.workloads[WID]
    assert (view.state, view.priority) == ("running", 100)


def test_a_retried_failure_requeues_and_only_the_final_one_ends():
    view = WorkloadView()
    FlowObserver._apply(view, WorkloadRunning(workload_id=WID, cluster="c"))
    FlowObserver._apply(view, WorkloadFailed(workload_id=WID, cluster="c", reason="pod-failed", final=False))
    assert (view.state, view.retried) == ("retrying", {1: "pod-failed"})
    FlowObserver._apply(view, WorkloadRunning(workload_id=WID, cluster="c"))
    assert view.state == "running"  # the next attempt moves it on
    FlowObserver._apply(view, WorkloadFailed(workload_id=WID, cluster="c", reason="pod-failed", attempt=2))
    assert (view.state, view.retried) == ("failed", {1: "pod-failed"})
