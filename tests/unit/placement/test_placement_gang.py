"""Gangs: all or nothing over every pod set, elastic minimums, topology required vs preferred."""

from __future__ import annotations

import pytest
from placement_builders import digest, node, rack_topology, running, snapshot, workload

from libs.placement import PlacementOutcome, Reason, Strategy, TopologyLevel, TopologyMode, place
from libs.placement import gang as gang_mod


def gpu_fleet(n: int = 3, gpus: int = 8):
    return snapshot(*(node(f"n{i}").gpus(gpus) for i in range(n)))


def test_gang_over_pod_sets_is_all_or_nothing() -> None:
    snap = gpu_fleet(3)
    before = digest(snap)
    w = workload("ray").pods("head", 1, cpu=2000).pods("workers", 4, gpus=8).build()
    result = place(snap, w)
    assert result.outcome == PlacementOutcome.NO_FIT and result.assignments == ()
    assert result.failures[0].pod_set == "workers" and result.failures[0].placed == 3
    assert result.reasons == (Reason.GANG_INCOMPLETE,)
    assert digest(snap) == before


def test_whole_gang_is_placed_with_every_pod_set() -> None:
    snap = gpu_fleet(3)
    result = place(snap, workload("ray").pods("head", 1, cpu=2000).pods("workers", 3, gpus=8).build())
    assert result.outcome == PlacementOutcome.FIT
    assert sorted(a.pod_set for a in result.assignments) == ["head", "workers", "workers", "workers"]
    assert len(snap.workload_pods["ray"]) == 4


@pytest.mark.parametrize(
    "free_nodes,outcome,placed",
    [
        pytest.param(3, PlacementOutcome.PARTIAL_FIT, 3, id="above-min-partial"),
        pytest.param(2, PlacementOutcome.PARTIAL_FIT, 2, id="exactly-min"),
        pytest.param(1, PlacementOutcome.NO_FIT, 0, id="below-min"),
    ],
)
def test_elastic_gang_accepts_any_count_from_its_minimum(free_nodes, outcome, placed) -> None:
    snap = gpu_fleet(free_nodes)
    result = place(snap, workload("w").pods("workers", 4, gpus=8, min_count=2).build())
    assert result.outcome == outcome
    assert len(result.assignments) == placed == len(snap.pods)


def test_dry_run_returns_assignments_and_leaves_the_snapshot_alone() -> None:
    snap = gpu_fleet(2)
    before = digest(snap)
    result = place(snap, workload("w").pods("workers", 2, gpus=8).build(), commit=False)
    assert result.outcome == PlacementOutcome.FIT and len(result.assignments) == 2
    assert digest(snap) == before


def test_bound_pods_carry_priority_and_start_time() -> None:
    snap = gpu_fleet(1)
    place(snap, workload("w").priority(7).pods("main").build(), now=123.0)
    _, pod = snap.pods["w/main/0"]
    assert (pod.priority, pod.started_at) == (7, 123.0)


def racks():
    """r1: 2 nodes, one half used (room for 3 x 4-GPU pods); r2: 2 empty nodes (room for 4)."""
    snap = snapshot(node("r2a").gpus(8).rack("r2"), node("r2b").gpus(8).rack("r2"),
                    node("r1a").gpus(8).rack("r1"), node("r1b").gpus(8).rack("r1"))
    running(snap, "x", "r1a", gpus=4)
    return snap


def test_required_rack_takes_the_tightest_rack_that_fits() -> None:
    snap = racks()
    result = place(snap, workload("w").pods("workers", 3, gpus=4, topology=rack_topology()).build())
    assert result.outcome == PlacementOutcome.FIT
    assert {a.node for a in result.assignments} == {"r1a", "r1b"}


def test_required_rack_prefers_a_single_host_when_one_fits() -> None:
    snap = racks()
    result = place(snap, workload("w").pods("workers", 2, gpus=4, topology=rack_topology()).build())
    assert len({a.node for a in result.assignments}) == 1


@pytest.mark.parametrize(
    "mode,outcome",
    [
        pytest.param(TopologyMode.REQUIRED, PlacementOutcome.NO_FIT, id="required-fails"),
        pytest.param(TopologyMode.PREFERRED, PlacementOutcome.FIT, id="preferred-spills"),
    ],
)
def test_gang_wider_than_any_rack(mode, outcome) -> None:
    snap = racks()
    w = workload("w").pods("workers", 6, gpus=4, topology=rack_topology(mode)).build()
    result = place(snap, w)
    assert result.outcome == outcome


def test_preferred_rack_spills_to_the_block_before_the_whole_fleet() -> None:
    snap = snapshot(node("a").gpus(8).rack("r1", "b1"), node("b").gpus(8).rack("r2", "b1"),
                    node("c").gpus(8).rack("r3", "b2"), node("d").gpus(8).rack("r4", "b2"))
    running(snap, "x", "a", gpus=4)
    w = workload("w").pods("workers", 4, gpus=4, topology=rack_topology(TopologyMode.PREFERRED)).build()
    result = place(snap, w)
    assert {a.node for a in result.assignments} == {"c", "d"}


def test_zone_level_request_counts_all_racks_of_the_zone() -> None:
    snap = snapshot(node("a").gpus(8).rack("r1", zone="z1"), node("b").gpus(8).rack("r2", zone="z1"),
                    node("c").gpus(8).rack("r3", zone="z2"))
    w = workload("w").pods("workers", 4, gpus=4, topology=rack_topology(level=TopologyLevel.ZONE)).build()
    assert {a.node for a in place(snap, w).assignments} == {"a", "b"}


@pytest.mark.parametrize("strategy", [Strategy.BINPACK, Strategy.BEST_FIT], ids=["binpack", "best-fit"])
def test_bulk_fill_equals_one_by_one_for_monotone_scorers(strategy, monkeypatch) -> None:
    def build():
        snap = snapshot(*(node(f"n{i}").gpus(8).cpu(32000 + 1000 * (i % 3)) for i in range(6)))
        running(snap, "x", "n2", gpus=3)
        running(snap, "y", "n4", gpus=5)
        return snap
    w = workload("w").pods("workers", 9, gpus=2, cpu=3000).build()
    bulk = place(build(), w, strategy).assignments
    monkeypatch.setattr(gang_mod, "_fill_bulk", gang_mod._fill_each)
    assert place(build(), w, strategy).assignments == bulk
