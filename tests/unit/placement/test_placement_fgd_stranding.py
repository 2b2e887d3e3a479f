"""FGD with CPU stranding (``fgd_stranding``): free GPUs the node's CPU can no longer serve count as fragmented."""

from __future__ import annotations

import numpy as np
from placement_builders import node, running, snapshot, workload

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


# A few GPU pods take a whole 8-GPU node with little CPU; the rest bring 24 CPUs per GPU. On average:
# (0.05·16000 + 0.95·24000) / (0.05·8000 + 0.95·1000) ≈ 17.5 CPU milli per GPU milli.
WHOLE_MIX = (TypicalPod(16000, 1000, 8, popularity=0.05), TypicalPod(24000, 1000, 1, popularity=0.95))


def test_no_gpu_is_stranded_where_a_typical_pod_that_fits_would_take_them_all() -> None:
    plain = FragmentationModel(WHOLE_MIX, stranding=True)
    whole = FragmentationModel(WHOLE_MIX, stranding=True, stranding_whole=True)
    left = np.array([[1000] * 8, [1000] * 4 + [0] * 4, [1000] * 8])
    cpu, mem = np.array([20000, 20000, 10000]), np.full(3, 10**6)
    ok = np.ones((2, 3), bool)
    assert plain.stranded(left.sum(axis=1), cpu, mem)[0] > 6000  # 20 CPUs serve about 1.1 of the 8 GPUs
    frag_plain = plain.fragmentation(left, cpu, mem, ok)
    frag_whole = whole.fragmentation(left, cpu, mem, ok)
    # idle with 20 CPUs: the 8-GPU pod (16 CPUs) fits and takes all 8 GPUs, so none is stranded
    assert frag_whole[0] < frag_plain[0]
    # 4 GPUs left: no typical pod takes them all; idle with 10 CPUs: the 8-GPU pod does not fit. Unchanged.
    assert frag_whole[1:].tolist() == frag_plain[1:].tolist()


def test_a_small_pod_does_not_break_an_idle_node_a_whole_node_pod_can_still_use() -> None:
    # big: idle, 8 GPUs and 20 CPUs (too few for 8 GPUs at the average rate, enough for one 8-GPU pod);
    # used: 4 of 8 GPUs taken. Plain stranding sees most of the idle node's GPUs as lost already and "unstrands"
    # one with the small pod; with stranding_whole the idle node stays whole for the 8-GPU pods.
    def fleet():
        snap = snapshot(node("big").cpu(20000).gpus(8), node("used").cpu(96000).gpus(8))
        running(snap, "old", "used", gpus=4, cpu=16000)
        return snap
    w = workload("w").pods("main", cpu=2000, gpus=1).build()
    plain = PlacementPolicy(Strategy.FGD, typical_pods=WHOLE_MIX, fgd_stranding=True)
    whole = PlacementPolicy(Strategy.FGD, typical_pods=WHOLE_MIX, fgd_stranding=True, fgd_stranding_whole=True)
    assert place(fleet(), w, plain).assignments[0].node == "big"
    assert place(fleet(), w, whole).assignments[0].node == "used"


# Half the pods are CPU-only: the whole mix asks (0.5·11000 + 0.5·12000) / (0.5·1000) = 23 CPU milli per GPU milli,
# more than the 16 the fleet below has (160 CPUs for 10 GPUs): CPU runs out before GPUs do.
SCARCE = (TypicalPod(11000, 1000, 1, popularity=0.5), TypicalPod(12000, 0, 0, popularity=0.5))


def scarce_policy(scarce: bool) -> PlacementPolicy:
    return PlacementPolicy(Strategy.FGD, typical_pods=SCARCE, fgd_stranding=True, fgd_stranding_whole=True,
                           fgd_packing=50, fgd_stranding_scarce=scarce)


def test_where_cpu_is_scarce_a_gpu_pod_fills_the_gpu_dense_node_and_leaves_cpu_to_cpu_only_pods() -> None:
    def fleet():  # dense: 8 GPUs, 96 CPUs (12 per GPU); roomy: 2 GPUs, 64 CPUs (32 per GPU)
        return snapshot(node("dense").cpu(96000).gpus(8), node("roomy").cpu(64000).gpus(2))

    w = workload("w").pods("main", cpu=11000, gpus=1).build()
    # at the GPU pods' own 11 CPUs per GPU both nodes serve every GPU: the fuller-CPU node (roomy) wins the packing
    assert place(fleet(), w, scarce_policy(False)).assignments[0].node == "roomy"
    # at the whole mix's 23, dense serves only 96 / 23 ≈ 4.2 of its GPUs; a GPU pod there strands 0.5 GPU less
    assert place(fleet(), w, scarce_policy(True)).assignments[0].node == "dense"


def test_the_whole_mix_rate_applies_only_where_the_fleet_is_short_of_cpu() -> None:
    model = FragmentationModel(SCARCE, stranding=True, stranding_scarce=True)
    assert model.cpu_per_milli == 11.0 and model.mix_cpu_per_milli == 23.0
    short = snapshot(node("a").cpu(96000).gpus(8), node("b").cpu(64000).gpus(2))  # 16 CPU milli per GPU milli
    rich = snapshot(node("a").cpu(256000).gpus(8), node("b").cpu(64000).gpus(2))  # 32
    assert model.cpu_rate(short) == 23.0
    assert model.cpu_rate(rich) == 11.0
    assert FragmentationModel(SCARCE, stranding=True).cpu_rate(short) == 11.0  # the flag off: the GPU pods' rate
    # stranding at the rate: 96 CPUs serve 96000 / 23 ≈ 4174 of 8000 free GPU milli
    stranded = model.stranded(np.array([8000.0]), np.array([96000.0]), np.array([1.0]), model.cpu_rate(short))
    assert round(float(stranded[0])) == 8000 - round(96000 / 23)


def test_a_snapshot_that_loses_its_cpu_rich_node_turns_scarce() -> None:
    model = FragmentationModel(SCARCE, stranding=True, stranding_scarce=True)
    snap = snapshot(node("a").cpu(96000).gpus(8), node("cpu-rich").cpu(512000).gpus(2))
    assert model.cpu_rate(snap) == 11.0
    snap.remove_node("cpu-rich")
    assert model.cpu_rate(snap) == 23.0  # cached per static epoch: a node's removal is seen
