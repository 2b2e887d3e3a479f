"""FGD with CPU stranding (``fgd_stranding``): free GPUs the node's CPU can no longer serve count as fragmented."""

from __future__ import annotations

import numpy as np
from placement_builders import node, snapshot, workload

from libs.placement import PlacementPolicy, Strategy, TypicalPod, place
from libs.placement.fgd import FragmentationModel

# GPU pods bring 8 CPUs per GPU on average: (0.5·8000 + 0.3·2000) / (0.5·1000 + 0.3·500) ≈ 7.08 milli per milli
MIX = (TypicalPod(8000, 1000, 1, popularity=0.5), TypicalPod(2000, 500, 1, popularity=0.3),
       TypicalPod(16000, 0, 0, popularity=0.2))


def policy(stranding: bool) -> PlacementPolicy:
    return PlacementPolicy(Strategy.FGD, typical_pods=MIX, fgd_quantized=True, fgd_stranding=stranding)


def dense_then_roomy():
    """dense: 8 GPUs and 64 CPUs (just enough CPU for its GPUs); roomy: 2 GPUs and 104 CPUs. dense comes first."""
    return snapshot(node("dense").cpu(64000).gpus(8), node("roomy").cpu(104000).gpus(2))


def test_a_cpu_only_pod_goes_where_its_cpu_strands_no_gpu() -> None:
    # 20 CPUs on dense leave 44 for 8 GPUs: every typical pod still fits once, so plain FGD sees no
    # change and the tie goes to node order; with stranding, 8000 - 44000 / 7.08 ≈ 1800 milli are lost
    w = workload("w").pods("main", cpu=20000).build()
    assert place(dense_then_roomy(), w, policy(False)).assignments[0].node == "dense"
    assert place(dense_then_roomy(), w, policy(True)).assignments[0].node == "roomy"


def test_a_gpu_pod_heavy_on_cpu_also_avoids_the_gpu_dense_node() -> None:
    w = workload("w").pods("main", cpu=24000, gpus=1).build()
    assert place(dense_then_roomy(), w, policy(False)).assignments[0].node == "dense"
    assert place(dense_then_roomy(), w, policy(True)).assignments[0].node == "roomy"


def test_stranded_milli_is_the_free_gpu_beyond_what_the_free_cpu_can_serve() -> None:
    model = FragmentationModel((TypicalPod(10000, 1000, 1, popularity=0.5), TypicalPod(0, 0, 0, popularity=0.5)),
                               stranding=True)
    assert model.cpu_per_milli == 10.0 and model.mem_per_milli == 0.0  # CPU-only pods bring no GPU
    total = np.array([4000, 4000, 0])
    stranded = model.stranded(total, np.array([50000, 25000, 0]), np.array([1, 1, 1]))
    assert stranded.tolist() == [0.0, 1500.0, 0.0]


def test_stranding_follows_memory_when_the_mix_has_it() -> None:
    model = FragmentationModel((TypicalPod(1000, 1000, 1, popularity=1.0, memory_mib=4096),), stranding=True)
    assert model.stranded(np.array([2000]), np.array([64000]), np.array([4096])).tolist() == [1000.0]


def test_without_gpu_pods_in_the_mix_nothing_is_stranded() -> None:
    model = FragmentationModel((TypicalPod(4000, 0, 0, popularity=1.0),), stranding=True)
    assert model.stranded(np.array([8000]), np.array([0]), np.array([0])).tolist() == [0.0]


def test_one_snapshot_keeps_a_scorer_per_policy_variant() -> None:
    # the scorer cache once ignored the flag: stranding then reused plain FGD's scores on the same snapshot
    snap, w = dense_then_roomy(), workload("w").pods("main", cpu=20000).build()
    plain = place(snap, w, policy(False))
    assert plain.assignments[0].node == "dense"
    other = workload("x").pods("main", cpu=20000).build()
    assert place(snap, other, policy(True)).assignments[0].node == "roomy"
