"""Scoring strategies choose the node they promise; ties go to the fixed node order."""

from __future__ import annotations

import pytest
from placement_builders import node, running, snapshot, workload

from libs.placement import PlacementPolicy, Strategy, TypicalPod, place


def chosen(snap, w, policy) -> str:
    result = place(snap, w, policy)
    assert result.placed, result.message
    return result.assignments[0].node


def small_vs_big():
    """small: 4 GPUs, all free; big: 16 GPUs, 10 used. Same CPU and memory use."""
    snap = snapshot(node("small").gpus(4), node("big").gpus(16))
    running(snap, "x", "big", gpus=10, cpu=1)
    running(snap, "y", "small", gpus=0, cpu=1)
    return snap, workload("w").pods("main", gpus=1).build()


@pytest.mark.parametrize(
    "strategy,expected",
    [
        pytest.param(Strategy.BINPACK, "big", id="binpack-most-allocated-fraction"),
        pytest.param(Strategy.BEST_FIT, "small", id="best-fit-least-absolute-leftover"),
        pytest.param(Strategy.SPREAD, "small", id="spread-least-allocated"),
    ],
)
def test_strategy_picks_its_node(strategy, expected) -> None:
    snap, w = small_vs_big()
    assert chosen(snap, w, strategy) == expected


@pytest.mark.parametrize(
    "strategy,expected",
    [pytest.param(Strategy.BINPACK, "busy", id="binpack"), pytest.param(Strategy.SPREAD, "idle", id="spread")],
)
def test_binpack_fills_and_spread_balances(strategy, expected) -> None:
    snap = snapshot(node("idle"), node("busy"))
    running(snap, "x", "busy", cpu=16000)
    assert chosen(snap, workload("w").pods("main", cpu=1000).build(), strategy) == expected


def fgd_policy() -> PlacementPolicy:
    mix = (TypicalPod(cpu_milli=8000, gpu_milli=1000, gpu_count=1, popularity=1.0),)
    return PlacementPolicy(Strategy.FGD, typical_pods=mix)


def test_fgd_keeps_cpu_pods_off_a_node_whose_gpus_they_would_strand() -> None:
    # tight: 16 CPUs and 2 free GPUs; a 10-CPU pod there leaves 6 CPUs, too few for any GPU pod
    snap = snapshot(node("tight").cpu(16000).gpus(2), node("roomy").cpu(64000).gpus(2))
    w = workload("w").pods("main", cpu=10000).build()
    assert chosen(snap, w, Strategy.BEST_FIT) == "tight"
    assert chosen(snapshot(node("tight").cpu(16000).gpus(2), node("roomy").cpu(64000).gpus(2)), w,
                  fgd_policy()) == "roomy"


def test_fgd_puts_a_shared_pod_on_an_already_broken_gpu() -> None:
    snap = snapshot(node("clean").gpus(2), node("broken").gpus(2))
    from libs.placement import BoundPod
    snap.bind(BoundPod("x", "x", "broken", gpus=((1, 400),)))
    result = place(snap, workload("w").pods("main", gpus=1, gpu_milli=500).build(), fgd_policy())
    assert result.assignments[0].node == "broken" and result.assignments[0].gpus == ((1, 500),)


def test_fgd_without_typical_pods_is_a_clear_error() -> None:
    snap = snapshot(node("n").gpus(1))
    with pytest.raises(ValueError, match="typical pods"):
        place(snap, workload("w").pods("main", gpus=1).build(), Strategy.FGD)


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")], ids=["a-first", "b-first"])
def test_ties_go_to_the_first_node_in_snapshot_order(order) -> None:
    snap = snapshot(*(node(n) for n in order))
    assert chosen(snap, workload("w").pods("main").build(), Strategy.BINPACK) == order[0]


def test_strategy_is_selected_per_pool() -> None:
    policy = PlacementPolicy(default=Strategy.BINPACK, per_pool={"p1": Strategy.SPREAD})
    snap = snapshot(node("idle"), node("busy"))
    running(snap, "x", "busy", cpu=16000)
    assert chosen(snap, workload("w").pools("p1").pods("main").build(), policy) == "idle"
    assert chosen(snap, workload("v").pods("main").build(), policy) == "busy"


def test_typical_pods_keep_the_most_common_shapes_up_to_the_coverage() -> None:
    from libs.placement import typical_pods
    shapes = [(1000, 1000, 1, ())] * 6 + [(0, 0, 0, ())] * 3 + [(500, 250, 1, ())]
    mix = typical_pods(shapes, coverage=0.9)
    assert [(t.cpu_milli, t.gpu_milli) for t in mix] == [(1000, 1000), (0, 0)]
    assert [round(t.popularity, 3) for t in mix] == [round(6 / 9, 3), round(3 / 9, 3)]


def test_fragmentation_counts_small_gpus_or_everything_when_the_pod_cannot_fit() -> None:
    import numpy as np

    from libs.placement.fgd import FragmentationModel
    model = FragmentationModel((TypicalPod(4000, 1000, 1, popularity=0.5), TypicalPod(0, 0, 0, popularity=0.5)))
    left = np.array([[1000, 300], [1000, 300]])
    frag = model.fragmentation(left, np.array([8000, 1000]), np.array([1, 1]), np.ones((2, 2), bool))
    # node 0: GPU pod fits, 300 milli too small -> 300; CPU-only pod: all 1300 -> mean 800
    # node 1: GPU pod lacks CPU -> 1300; CPU-only pod -> 1300
    assert frag.tolist() == [800.0, 1300.0]
