"""FGD with scarcity weights (``fgd_scarcity``): a typical GPU pod weighs by how few nodes could host it, too."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from placement_builders import node, snapshot, workload

from libs.placement import PlacementPolicy, Strategy, TypicalPod, place
from libs.placement.fgd import FragmentationModel

GIB = 1024
# BIG fits only a large node (128 CPUs, 768 GiB); MID and HALF fit any 8-GPU node; a fifth of the pods are CPU-only
BIG = TypicalPod(120000, 1000, 8, popularity=0.1, memory_mib=700 * GIB)
MID = TypicalPod(88000, 1000, 8, popularity=0.4, memory_mib=320 * GIB)
HALF = TypicalPod(32000, 1000, 4, popularity=0.3, memory_mib=128 * GIB)
CPU = TypicalPod(12000, 0, 0, popularity=0.2, memory_mib=56 * GIB)
MIX = (BIG, MID, HALF, CPU)


def fleet():
    """One large node first (ties would go to it), then three mid-sized 8-GPU nodes."""
    return snapshot(node("large").cpu(128000).mem(768 * GIB).gpus(8),
                    *(node(f"mid{i}").cpu(96000).mem(384 * GIB).gpus(8) for i in range(3)))


def policy(scarcity: bool) -> PlacementPolicy:
    return PlacementPolicy(Strategy.FGD, typical_pods=MIX, fgd_scarcity=scarcity)


def test_a_pod_that_fits_anywhere_leaves_the_only_node_a_big_pod_can_use() -> None:
    # 4 GPUs, 60 CPUs, 313 GiB: on a mid node it leaves 71 GiB, too little for any typical GPU pod (+1600 milli of
    # fragmentation by popularity); on the large node it only breaks BIG (10 %) and MID: +1200. Plain FGD takes the
    # large node, and the next BIG pod has nowhere to go. BIG fits 1 of 4 GPU nodes: weighed 4x, renormalised, the
    # large node costs +1846 and a mid node +308.
    w = workload("w").pods("main", cpu=60000, mem=313 * GIB, gpus=4).build()
    assert place(fleet(), w, policy(False)).assignments[0].node == "large"
    assert place(fleet(), w, policy(True)).assignments[0].node.startswith("mid")


def test_weights_are_popularity_times_gpu_nodes_over_hosts_renormalised() -> None:
    model = FragmentationModel(MIX, scarcity=True)
    factors = np.array([4.0, 1.0, 1.0, 1.0])  # BIG: 4 GPU nodes over 1 host; CPU-only pods keep their popularity
    expected = model.weight * factors / (model.weight * factors).sum()
    assert np.allclose(model.weights(fleet()), expected)
    assert np.array_equal(FragmentationModel(MIX).weights(fleet()), model.weight)  # the flag off: popularities


def test_a_pod_no_node_can_host_keeps_its_popularity_and_nodes_without_gpus_do_not_count() -> None:
    model = FragmentationModel((TypicalPod(999000, 1000, 8, popularity=0.5), HALF), scarcity=True)
    snap = snapshot(node("cpu").cpu(64000).mem(256 * GIB), node("gpu").cpu(96000).mem(384 * GIB).gpus(8))
    assert np.allclose(model.weights(snap), [0.5, 0.3])


def test_weights_follow_the_fleet_per_static_epoch() -> None:
    model = FragmentationModel(MIX, scarcity=True)
    snap = fleet()
    big_before = model.weights(snap)[0]
    snap.remove_node("mid0")
    assert model.weights(snap)[0] < big_before  # 3 GPU nodes over 1 host now: BIG weighs less than 4x
    snap.remove_node("large")
    assert np.allclose(model.weights(snap), model.weight)  # no node hosts BIG: every pod at its popularity


shapes = st.tuples(st.integers(0, 200000), st.sampled_from([0, 1, 2, 4, 8]), st.integers(0, 1024 * GIB),
                   st.integers(1, 100))


@given(st.lists(shapes, min_size=1, max_size=8), st.lists(st.tuples(st.integers(1000, 256000), st.integers(0, 8),
                                                                     st.integers(1024, 1024 * GIB)),
                                                           min_size=1, max_size=6))
def test_weights_are_positive_and_sum_as_the_popularities_do(pods, nodes) -> None:
    total = sum(n for *_, n in pods)
    mix = tuple(TypicalPod(cpu, 1000 if k else 0, k, popularity=n / total, memory_mib=mem) for cpu, k, mem, n in pods)
    snap = snapshot(*(node(f"n{i}").cpu(c).mem(m).gpus(g) if g else node(f"n{i}").cpu(c).mem(m)
                      for i, (c, g, m) in enumerate(nodes)))
    weights = FragmentationModel(mix, scarcity=True).weights(snap)
    assert np.all(weights > 0)
    assert abs(weights.sum() - sum(p.popularity for p in mix)) < 1e-9
