"""What cost reporting keeps of each workload event for the timeline (`batchyard workloads describe`)."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.events import (
    PodAssignment,
    PodSet,
    PreemptionRequested,
    WorkloadCancelled,
    WorkloadEvicted,
    WorkloadPlaced,
    WorkloadRunning,
    WorkloadSpec,
)
from services.cost_reporting.timeline import TimelineRow, timeline_row

SPEC = WorkloadSpec(name="w", pod_sets=(PodSet(name="train", count=2),))


def test_a_placement_keeps_its_cluster_nodes_and_the_schedulers_reason_for_the_cluster():
    placed = WorkloadPlaced(workload_id="w", cluster="gcp-usc1", spec=SPEC, cluster_queue="cq",
                            cluster_reason="price: $0.38/h against aws-use1's $0.41/h", assignments=(
                                PodAssignment(pod_set="train", index=0, node_id="n2"),
                                PodAssignment(pod_set="train", index=1, node_id="n1")))
    assert timeline_row(placed) == TimelineRow("gcp-usc1", None, "price: $0.38/h against aws-use1's $0.41/h",
                                               {"nodes": ["n1", "n2"], "pods": 2, "cluster_queue": "cq"})


def test_evictions_preemptions_and_cancellations_keep_their_reasons():
    evicted = WorkloadEvicted(workload_id="w", cluster="c", reason="preempted", message="for v1")
    assert timeline_row(evicted) == TimelineRow("c", "preempted", "for v1")
    asked = PreemptionRequested(workload_id="w", reason="InCohortReclamation", message="nlp reclaims", preemptor="n0")
    assert timeline_row(asked) == TimelineRow(None, "InCohortReclamation", "nlp reclaims",
                                              {"preemptor": "n0", "nodes": []})
    cancelled = WorkloadCancelled(workload_id="w", reason="wrong data", cancelled_by="me", placed=False,
                                  cancelled_at=datetime.now(UTC))
    assert timeline_row(cancelled) == TimelineRow(None, "cancelled", "wrong data",
                                                  {"cancelled_by": "me", "placed": False})
    assert timeline_row(WorkloadRunning(workload_id="w", cluster="c")) == TimelineRow("c")
