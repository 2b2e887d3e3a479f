"""FGD's packing key (``fgd_packing``) and GPU-model-aware fragmentation (``fgd_models``), ADR 0017."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from placement_builders import node, snapshot, workload

from libs.placement import BoundPod, PlacementPolicy, Strategy, TypicalPod, place
from libs.placement.fgd import FragmentationModel, after_placement
from libs.placement.filters import Shape
from libs.placement.model import GPU_MILLI
from libs.placement.scoring import Scorer

WHOLE = (TypicalPod(1000, 1000, 1, popularity=1.0),)


def fgd(mix=WHOLE, **flags) -> PlacementPolicy:
    return PlacementPolicy(Strategy.FGD, typical_pods=mix, **flags)


def idle_then_busy():
    """Two 8-GPU nodes alike but for 32 of busy's 64 CPUs, taken by a CPU-only pod; idle comes first."""
    snap = snapshot(node("idle").cpu(64000).gpus(8), node("busy").cpu(64000).gpus(8))
    snap.bind(BoundPod("cpu-pod", "w0", "busy", cpu_milli=32000))
    return snap


def test_without_packing_equal_fragmentation_goes_to_node_order() -> None:
    w = workload("w").pods("main", cpu=1000, gpus=1).build()
    assert place(idle_then_busy(), w, fgd()).assignments[0].node == "idle"


def test_packing_sends_a_pod_to_the_fuller_node_among_equal_fragmentation() -> None:
    w = workload("w").pods("main", cpu=1000, gpus=1).build()
    assert place(idle_then_busy(), w, fgd(fgd_packing=50.0)).assignments[0].node == "busy"


def test_packing_does_not_outweigh_more_fragmentation_than_it_is_worth() -> None:
    # a shared pod on the busy node's whole GPU leaves 500 milli nobody in the mix can use: +500 > 50
    snap = idle_then_busy()
    snap.bind(BoundPod("half", "w1", "idle", gpus=((0, 500),)))
    w = workload("w").pods("main", cpu=1000, gpus=1, gpu_milli=500).build()
    assert place(snap, w, fgd(fgd_packing=50.0)).assignments[0].node == "idle"


@settings(max_examples=40, deadline=None)
@given(used=st.lists(st.integers(0, 64000), min_size=1, max_size=6), cpu=st.integers(0, 8000),
       gpus=st.integers(0, 2), packing=st.floats(1.0, 500.0))
def test_the_packing_key_adds_at_most_its_weight_times_the_cpu_share_after_placement(used, cpu, gpus,
                                                                                     packing) -> None:
    snap = snapshot(*(node(f"n{i}").cpu(72000).gpus(4) for i in range(len(used))))
    for i, u in enumerate(used):
        snap.bind(BoundPod(f"p{i}", f"w{i}", f"n{i}", cpu_milli=u))
    shape, idx = Shape(cpu, 0, gpus, GPU_MILLI), np.arange(len(used))
    plain = Scorer(Strategy.FGD, fgd())(snap, shape, idx)
    packed = Scorer(Strategy.FGD, fgd(fgd_packing=packing))(snap, shape, idx)
    share = (np.array(used) + cpu) / 72000
    assert np.allclose(packed - plain, packing * share)


def test_without_constraints_model_aware_fragmentation_is_fgds() -> None:
    mix = (TypicalPod(4000, 1000, 1, popularity=0.6), TypicalPod(2000, 500, 1, popularity=0.3),
           TypicalPod(8000, 0, 0, popularity=0.1))
    left = np.array([[1000, 300, 0, 0], [500, 500, 1000, 1000], [0, 0, 0, 0]])
    args = (left, np.array([8000, 1000, 0]), np.array([1, 1, 1]), np.ones((3, 3), bool))
    assert np.allclose(FragmentationModel(mix, models=True).fragmentation(*args),
                       FragmentationModel(mix).fragmentation(*args))


def test_a_pod_that_refuses_a_model_does_not_weigh_on_its_nodes() -> None:
    # pod B only takes A100: on the H100 node (column 0) only pod A counts; plain FGD counts B's refusal as 2000
    mix = (TypicalPod(1000, 1000, 1, popularity=0.5), TypicalPod(1000, 1000, 1, ("A100",), popularity=0.5))
    left = np.array([[1000, 1000], [1000, 1000]])
    model_ok = np.array([[True, True], [False, True]])
    args = (left, np.array([8000, 8000]), np.array([1, 1]), model_ok)
    assert FragmentationModel(mix).fragmentation(*args).tolist() == [1000.0, 0.0]
    assert FragmentationModel(mix, models=True).fragmentation(*args).tolist() == [0.0, 0.0]


def test_a_gpu_no_typical_pod_may_use_is_all_fragment() -> None:
    mix = (TypicalPod(1000, 1000, 1, ("A100",), popularity=1.0),)
    model = FragmentationModel(mix, models=True)
    frag = model.fragmentation(np.array([[1000, 400]]), np.array([8000]), np.array([1]), np.array([[False]]))
    assert frag.tolist() == [1400.0]


def test_a_flexible_pod_is_no_longer_drawn_to_the_model_few_pods_accept() -> None:
    # half the mix needs A100s; plain FGD sees the H100 node's GPUs as half fragmented, and a flexible pod
    # "defragments" by filling them, whatever node order says; model-aware, the tie goes to node order
    mix = (TypicalPod(1000, 1000, 1, popularity=0.5), TypicalPod(1000, 1000, 1, ("A100",), popularity=0.5))
    w = workload("w").pods("main", cpu=1000, gpus=1).build()
    snap = snapshot(node("a100").cpu(64000).gpus(8, "A100"), node("h100").cpu(64000).gpus(8, "H100"))
    assert place(snap, w, fgd(mix)).assignments[0].node == "h100"
    snap = snapshot(node("a100").cpu(64000).gpus(8, "A100"), node("h100").cpu(64000).gpus(8, "H100"))
    assert place(snap, w, fgd(mix, fgd_models=True)).assignments[0].node == "a100"


def _each_gpu_by_recount(model, left, milli, cpu, mem, ok):
    out = []
    for g in range(left.shape[1]):
        after = left.copy()
        after[:, g] -= milli
        frag = model.fragmentation(after, cpu, mem, ok)
        out.append(np.where(left[:, g] >= milli, frag, np.inf))
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(left=st.lists(st.lists(st.sampled_from([0, 100, 300, 500, 700, 1000]), min_size=4, max_size=4),
                     min_size=1, max_size=5),
       milli=st.sampled_from([100, 250, 500, 900]), stranding=st.sampled_from([None, "plain", "whole"]),
       models=st.booleans())
def test_each_gpu_fragmentation_equals_a_full_recount(left, milli, stranding, models) -> None:
    mix = (TypicalPod(4000, 1000, 1, popularity=0.4), TypicalPod(2000, 300, 1, ("A100",), popularity=0.3),
           TypicalPod(6000, 1000, 2, popularity=0.2), TypicalPod(8000, 0, 0, popularity=0.1))
    model = FragmentationModel(mix, stranding=stranding is not None, models=models,
                               stranding_whole=stranding == "whole")
    left = np.array(left, np.int64)
    n = len(left)
    cpu, mem = np.arange(n) * 4000, np.full(n, 10**6)
    ok = np.tile(np.arange(n) % 2 == 0, (len(mix), 1)) | np.array([[True], [False], [True], [True]])
    fast = model.fragmentation_each_gpu(left, milli, cpu, mem, ok)
    assert np.allclose(fast, _each_gpu_by_recount(model, left, milli, cpu, mem, ok))


def test_after_placement_takes_whole_gpus_in_order() -> None:
    assert after_placement(np.array([[1000, 500, 1000]]), 2, 1000).tolist() == [[0, 500, 0]]


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "50", True])
def test_a_packing_weight_that_is_not_a_finite_number_of_milli_is_refused(value) -> None:
    from libs.placement.policy_file import PolicyError, policy_from_dict
    with pytest.raises(PolicyError, match="fgd_packing must be a finite number of milli"):
        policy_from_dict({"fgd_packing": value}, "policy.yaml")


def idle_then_partly_used():
    """Two 8-GPU nodes with the same CPU taken (32 of 64 cores on each); on `used`, a pod also holds 3 GPUs."""
    snap = snapshot(node("idle").cpu(64000).gpus(8), node("used").cpu(64000).gpus(8))
    snap.bind(BoundPod("cpu-pod", "w0", "idle", cpu_milli=32000))
    snap.bind(BoundPod("gpu-pod", "w1", "used", cpu_milli=32000, gpus=((0, 1000), (1, 1000), (2, 1000))))
    return snap


def test_packing_by_gpus_too_keeps_the_node_with_every_gpu_free_whole() -> None:
    """With 1-GPU pods only in the mix, either node leaves the same fragmentation and the same CPU share: the CPU
    packing key cannot tell them apart (node order: idle), the GPU one takes the partly used node."""
    w = workload("w").pods("main", cpu=1000, gpus=1).build()
    assert place(idle_then_partly_used(), w, fgd(fgd_packing=50.0)).assignments[0].node == "idle"
    assert place(idle_then_partly_used(), w, fgd(fgd_packing=50.0, fgd_packing_gpus=True)).assignments[0].node \
        == "used"


@settings(max_examples=40, deadline=None)
@given(cpu_used=st.lists(st.integers(0, 64000), min_size=1, max_size=6), gpu_used=st.data(),
       cpu=st.integers(0, 8000), gpus=st.integers(0, 2), packing=st.floats(1.0, 500.0))
def test_packing_by_gpus_adds_its_weight_times_the_mean_of_cpu_and_gpu_shares(cpu_used, gpu_used, cpu, gpus,
                                                                              packing) -> None:
    snap = snapshot(*(node(f"n{i}").cpu(72000).gpus(4) for i in range(len(cpu_used))))
    held = [gpu_used.draw(st.integers(0, 2)) for _ in cpu_used]  # whole GPUs held, leaving room for the pod
    for i, (u, g) in enumerate(zip(cpu_used, held)):
        snap.bind(BoundPod(f"p{i}", f"w{i}", f"n{i}", cpu_milli=u, gpus=tuple((k, 1000) for k in range(g))))
    shape, idx = Shape(cpu, 0, gpus, GPU_MILLI), np.arange(len(cpu_used))
    plain = Scorer(Strategy.FGD, fgd())(snap, shape, idx)
    packed = Scorer(Strategy.FGD, fgd(fgd_packing=packing, fgd_packing_gpus=True))(snap, shape, idx)
    share = 0.5 * (np.array(cpu_used) + cpu) / 72000 + 0.5 * (np.array(held) + gpus) / 4
    assert np.allclose(packed - plain, packing * share)
    assert Scorer(Strategy.FGD, fgd(fgd_packing=packing, fgd_packing_gpus=True)).key != \
        Scorer(Strategy.FGD, fgd(fgd_packing=packing)).key  # score caches keep them apart


CONSTRAINED_MIX = (TypicalPod(1000, 1000, 1, popularity=0.45), TypicalPod(1000, 1000, 1, ("A100",), popularity=0.3),
                   TypicalPod(1000, 500, 1, popularity=0.15), TypicalPod(4000, 0, 0, popularity=0.1))


def test_the_constrained_share_counts_gpu_pods_only() -> None:
    from libs.placement.scoring import constrained_share
    assert constrained_share(CONSTRAINED_MIX) == pytest.approx(0.3 / 0.9)
    assert constrained_share(WHOLE) == 0.0 and constrained_share(()) == 0.0


def test_constrained_packing_grows_the_packing_key_with_the_share_of_model_constrained_pods() -> None:
    plain = Scorer(Strategy.FGD, fgd(CONSTRAINED_MIX, fgd_packing=50.0))
    grown = Scorer(Strategy.FGD, fgd(CONSTRAINED_MIX, fgd_packing=50.0, fgd_packing_constrained=450.0))
    unconstrained = Scorer(Strategy.FGD, fgd(WHOLE, fgd_packing=50.0, fgd_packing_constrained=450.0))
    assert plain.packing == 50.0 and grown.packing == pytest.approx(50.0 + 450.0 / 3)
    assert unconstrained.packing == 50.0  # a mix with no constrained pod packs as before
    assert plain.key != grown.key  # score caches tell them apart
