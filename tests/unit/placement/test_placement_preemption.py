"""Preemption: fewest victims, whole gangs only, minimum runtime, priorities, and purity."""

from __future__ import annotations

import pytest
from placement_builders import digest, node, running, snapshot, workload

from libs.placement.preemption import PreemptionOutcome, find_preemption_targets


def full_fleet():
    """n0: one 8-GPU victim; n1: eight 1-GPU victims; n2: two 4-GPU victims; n3: a high-priority job."""
    snap = snapshot(*(node(f"n{i}").gpus(8) for i in range(4)))
    running(snap, "big", "n0", gpus=8, priority=1)
    for k in range(8):
        running(snap, f"small{k}", "n1", gpus=1, first_gpu=k)
    running(snap, "half-a", "n2", gpus=4)
    running(snap, "half-b", "n2", gpus=4, first_gpu=4)
    running(snap, "vip", "n3", gpus=8, priority=10)
    return snap


def victims(plan) -> list[str]:
    return sorted(v.workload_id for v in plan.victims)


def test_one_big_victim_beats_many_small_ones() -> None:
    plan = find_preemption_targets(full_fleet(), workload("hp").priority(5).pods("p", 1, gpus=8).build(), now=100)
    assert plan.outcome == PreemptionOutcome.FOUND
    assert victims(plan) == ["big"]
    assert plan.placement.assignments[0].node == "n0"


def test_two_nodes_take_three_victims_not_eight() -> None:
    plan = find_preemption_targets(full_fleet(), workload("hp").priority(5).pods("p", 2, gpus=8).build(), now=100)
    assert victims(plan) == ["big", "half-a", "half-b"]


def test_equal_or_higher_priority_is_never_a_victim() -> None:
    snap = full_fleet()
    plan = find_preemption_targets(snap, workload("hp").priority(1).pods("p", 1, gpus=8).build(), now=100)
    assert "big" not in victims(plan) and "vip" not in victims(plan)
    assert victims(plan) in (["half-a", "half-b"], [f"small{k}" for k in range(8)])


def test_a_gang_is_evicted_whole_even_if_only_one_node_is_needed() -> None:
    snap = snapshot(node("a").gpus(8), node("b").gpus(8), node("c").gpus(8))
    running(snap, "gang", "a", gpus=8)
    running(snap, "gang", "b", gpus=8)
    running(snap, "other1", "c", gpus=4, priority=3)
    running(snap, "other2", "c", gpus=4, first_gpu=4, priority=3)
    plan = find_preemption_targets(snap, workload("hp").priority(5).pods("p", 1, gpus=8).build(), now=10)
    assert victims(plan) == ["gang"]
    assert sorted(plan.victims[0].pods) == ["gang/0", "gang/1"]


@pytest.mark.parametrize(
    "min_runtime,expected",
    [pytest.param(0.0, ["big"], id="old-enough"), pytest.param(60.0, ["half-a", "half-b"], id="big-too-young")],
)
def test_minimum_runtime_protects_young_workloads(min_runtime, expected) -> None:
    snap = snapshot(*(node(f"n{i}").gpus(8) for i in range(2)))
    running(snap, "big", "n0", gpus=8, started_at=90.0)
    running(snap, "half-a", "n1", gpus=4, started_at=0.0)
    running(snap, "half-b", "n1", gpus=4, first_gpu=4, started_at=0.0)
    w = workload("hp").priority(5).pods("p", 1, gpus=8).build()
    assert victims(find_preemption_targets(snap, w, now=100.0, min_runtime=min_runtime)) == expected


def test_no_victims_says_why() -> None:
    snap = full_fleet()
    plan = find_preemption_targets(snap, workload("hp").priority(5).pods("p", 4, gpus=8).build(), now=100)
    assert plan.outcome == PreemptionOutcome.NO_VICTIMS and plan.victims == ()
    assert "would not make room" in plan.message


def test_not_needed_when_it_already_fits() -> None:
    snap = snapshot(node("n").gpus(8))
    plan = find_preemption_targets(snap, workload("hp").priority(5).pods("p", 1, gpus=8).build(), now=0)
    assert plan.outcome == PreemptionOutcome.NOT_NEEDED


def test_finding_victims_leaves_the_snapshot_exactly_as_it_was() -> None:
    snap = full_fleet()
    before = digest(snap)
    find_preemption_targets(snap, workload("hp").priority(5).pods("p", 2, gpus=8).build(), now=100)
    assert digest(snap) == before


def test_victims_off_eligible_nodes_are_left_alone() -> None:
    snap = snapshot(node("h").gpus(8, "H100"), node("t").gpus(8, "T4"))
    running(snap, "on-h", "h", gpus=8)
    running(snap, "on-t", "t", gpus=8)
    plan = find_preemption_targets(snap, workload("hp").priority(5).pods("p", gpus=8, models=("H100",)).build(), now=1)
    assert victims(plan) == ["on-h"]


def test_victims_are_chosen_inside_one_rack_for_a_rack_bound_gang() -> None:
    from libs.placement import TopologyLevel, TopologyRequest
    snap = snapshot(node("a1").gpus(8).rack("ra"), node("b1").gpus(8).rack("rb"), node("b2").gpus(8).rack("rb"))
    running(snap, "va", "a1", gpus=8)
    running(snap, "vb1", "b1", gpus=8)
    running(snap, "vb2", "b2", gpus=8)
    w = workload("hp").priority(5).pods("p", 2, gpus=8, topology=TopologyRequest(TopologyLevel.RACK)).build()
    assert victims(find_preemption_targets(snap, w, now=10)) == ["vb1", "vb2"]


def test_every_pod_set_of_the_preemptor_gets_room() -> None:
    snap = snapshot(node("cpu").cpu(4000), node("gpu").cpu(2000).gpus(8))  # the head only fits "cpu"
    running(snap, "cpu-hog", "cpu", cpu=4000)
    running(snap, "gpu-hog", "gpu", gpus=8)
    w = workload("ray").priority(5).pods("head", 1, cpu=4000).pods("workers", 1, gpus=8).build()
    plan = find_preemption_targets(snap, w, now=10)
    assert victims(plan) == ["cpu-hog", "gpu-hog"]
    assert {a.pod_set: a.node for a in plan.placement.assignments} == {"head": "cpu", "workers": "gpu"}
