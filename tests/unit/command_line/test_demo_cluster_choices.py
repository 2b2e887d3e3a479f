"""The demo's summary says where workloads on a flavor spanning clusters went, and why."""

from __future__ import annotations

from cli.demo_report import cluster_choices
from libs.platform.observer import FlowObserver, WorkloadView


def test_cluster_choices_are_counted_with_one_reason_shown():
    observer = FlowObserver("127.0.0.1:1")
    observer.workloads = {
        "demo-002": WorkloadView(cluster_choice=("aws-use1", "aws-use1 ($0.33/h): the only cluster where it fits")),
        "demo-001": WorkloadView(cluster_choice=("gcp-usc1", "gcp-usc1 ($0.19/h): the cheapest cluster where it "
                                                             "fits; aws-use1 $0.33/h")),
        "demo-003": WorkloadView(cluster_choice=("gcp-usc1", "...")),
        "demo-004": WorkloadView(),  # a single-cluster flavor: nothing to say
        "other-001": WorkloadView(cluster_choice=("aws-use1", "...")),  # not the demo's
    }
    [line] = cluster_choices(observer)
    assert line.plain == ("placed on a flavor spanning clusters: aws-use1 1, gcp-usc1 2; e.g. demo-001: gcp-usc1 "
                          "($0.19/h): the cheapest cluster where it fits; aws-use1 $0.33/h")


def test_no_line_when_no_flavor_spans_clusters():
    observer = FlowObserver("127.0.0.1:1")
    observer.workloads = {"demo-001": WorkloadView()}
    assert cluster_choices(observer) == []
