"""The observer's picture of a workload does not depend on how it interleaves its topics: a cancelled run ends
"cancelled" whether the runner's WorkloadFailed (lifecycle topic) or a WorkloadCancelled copy is read first."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from libs.events import WorkloadCancelled, WorkloadFailed, WorkloadRunning
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
