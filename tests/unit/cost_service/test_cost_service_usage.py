"""The cost service's pure parts: facts → allocations (order-free), units, open intervals, hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.cost import CostConfig, Resources, node_share
from libs.events import PodAssignment, PodSet, Tenant, WorkloadPlaced, WorkloadSpec
from libs.events import Resources as PodResources
from services.cost_reporting.usage import Fact, derive_allocations, node_spec, open_end, placed_allocations, to_interval

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def placed(event_id: str, node: str, pods: int = 1, occurred: float = 0) -> Fact:
    return Fact(event_id, "placed", at(occurred), "acme", "vision", "q",
                ({"pod_set": "main", "node_id": node, "cpu_milli": 1000 * pods, "memory_mib": 512 * pods,
                  "gpu_milli": 0},))


def running(event_id: str, hours: float) -> Fact:
    return Fact(event_id, "running", at(hours))


def ended(event_id: str, hours: float) -> Fact:
    return Fact(event_id, "ended", at(hours))


TWO_RUNS = [placed("p1", "n1"), running("r1", 0.5), ended("e1", 1.0),
            placed("p2", "n2", occurred=2), running("r2", 2.0), ended("e2", 3.5)]


def test_two_runs_pair_the_ith_placement_start_and_end():
    allocs = derive_allocations("w", TWO_RUNS)
    assert {(a.node_id, a.start, a.end) for a in allocs.values()} == {("n1", at(0.5), at(1.0)),
                                                                       ("n2", at(2.0), at(3.5))}
    assert sorted(allocs) == ["w#0/main@n1", "w#1/main@n2"]


@given(st.permutations(TWO_RUNS), st.lists(st.sampled_from(TWO_RUNS), max_size=6))
@settings(max_examples=60, deadline=None)
def test_allocations_do_not_depend_on_delivery_order_or_duplicates(order, dupes):
    assert derive_allocations("w", [*order, *dupes]) == derive_allocations("w", TWO_RUNS)


@pytest.mark.parametrize(("facts", "expected"), [
    pytest.param([placed("p", "n")], {}, id="placed-not-started-books-nothing"),
    pytest.param([running("r", 1), ended("e", 2)], {}, id="no-placement-yet-books-nothing"),
    pytest.param([placed("p", "n"), running("r", 1)], {"w#0/main@n": (at(1), None)}, id="running-is-open"),
    pytest.param([placed("p", "n"), running("r", 2), ended("e", 1)], {"w#0/main@n": (at(2), at(2))},
                 id="end-before-start-is-empty"),
])
def test_partial_knowledge(facts, expected):
    assert {k: (a.start, a.end) for k, a in derive_allocations("w", facts).items()} == expected


@pytest.mark.parametrize(("closed", "end"), [
    pytest.param(None, at(1), id="nothing-closed-bills-nothing"),
    pytest.param(at(0.5), at(1), id="closed-before-start-bills-nothing"),
    pytest.param(at(3), at(3), id="bills-through-the-closed-hour"),
])
def test_an_open_allocation_is_billed_up_to_the_closed_hour(closed, end):
    [alloc] = derive_allocations("w", [placed("p", "n"), running("r", 1)]).values()
    assert open_end(alloc, closed) == end
    assert to_interval(alloc, closed).end == end


def test_placement_sums_pods_per_pod_set_and_node_in_milli_gpus():
    spec = WorkloadSpec(name="w", pod_sets=(
        PodSet(name="a", count=3, requests=PodResources(cpu_milli=1000, memory_mib=100, gpu_milli=500)),
        PodSet(name="b", count=1, requests=PodResources(gpu=2))))
    event = WorkloadPlaced(workload_id="w", tenant=Tenant(org="o", team="t"), cluster="c", spec=spec,
                           assignments=(PodAssignment(pod_set="a", index=0, node_id="n1"),
                                        PodAssignment(pod_set="a", index=1, node_id="n1"),
                                        PodAssignment(pod_set="a", index=2, node_id="n2"),
                                        PodAssignment(pod_set="b", index=0, node_id="n1")))
    assert placed_allocations(event) == [
        {"pod_set": "a", "node_id": "n1", "cpu_milli": 2000, "memory_mib": 200, "gpu_milli": 1000},
        {"pod_set": "a", "node_id": "n2", "cpu_milli": 1000, "memory_mib": 100, "gpu_milli": 500},
        {"pod_set": "b", "node_id": "n1", "cpu_milli": 0, "memory_mib": 0, "gpu_milli": 2000}]


def test_service_units_give_the_same_share_as_natural_units():
    """Millicores, MiB and milli-GPUs cancel out: 2 of 8 GPUs is a quarter of the GPU weight either way."""
    row = {"node_id": "n", "cluster": "c", "pool": "p", "instance_type": "i", "gpu_model": "H100",
           "cpu_milli": 96_000, "memory_mib": 1_048_576, "gpu": 8}
    spec = node_spec(row)
    share = node_share(Resources(cpu_millis=24_000, memory_bytes=262_144, gpus=2000), spec, CostConfig())
    assert share == pytest.approx(0.25) and share.denominator % 4 == 0
