"""Snapshot: incremental updates, exact over-allocation checks, undo tokens, bulk load."""

from __future__ import annotations

from dataclasses import replace

import pytest
from placement_builders import digest, node, running, snapshot

from libs.placement import BoundPod, Snapshot


def test_add_node_twice_is_rejected() -> None:
    snap = snapshot(node("n1"))
    with pytest.raises(ValueError, match="already"):
        snap.add_node(node("n1").build())


@pytest.mark.parametrize(
    "pod",
    [
        pytest.param(BoundPod("p", "w", "n1", cpu_milli=4001), id="cpu"),
        pytest.param(BoundPod("p", "w", "n1", memory_mib=8193), id="memory"),
        pytest.param(BoundPod("p", "w", "n1", gpus=((2, 1000),)), id="gpu-index-out-of-range"),
        pytest.param(BoundPod("p", "w", "n1", gpus=((0, 1000),)), id="gpu-already-taken"),
        pytest.param(BoundPod("p", "w", "n1", gpus=((1, 600),)), id="gpu-milli-over-shared-rest"),
    ],
)
def test_bind_refuses_over_allocation(pod: BoundPod) -> None:
    snap = snapshot(node("n1").cpu(4000).mem(8192).gpus(2))
    snap.bind(BoundPod("a", "wa", "n1", gpus=((0, 1000),)))
    snap.bind(BoundPod("b", "wb", "n1", gpus=((1, 500),)))
    with pytest.raises(ValueError):
        snap.bind(pod)


def test_bind_then_unbind_restores_usage_and_gpu_summaries() -> None:
    snap = snapshot(node("n1").gpus(4))
    before = digest(snap)
    snap.bind(BoundPod("p", "w", "n1", 2000, 4096, ((1, 300),)))
    assert (snap.cpu_used[0], snap.gpu_full[0], snap.gpu_maxleft[0]) == (2000, 3, 1000)
    snap.unbind("p")
    assert digest(snap) == before


def test_shared_gpu_choice_is_best_fit_on_the_node() -> None:
    snap = snapshot(node("n1").gpus(3))
    snap.bind(BoundPod("a", "w", "n1", gpus=((0, 600),)))  # GPU0 has 400 left
    snap.bind(BoundPod("b", "w", "n1", gpus=((1, 300),)))  # GPU1 has 700 left
    assert snap.choose_gpus(0, 1, 350) == ((0, 350),)
    assert snap.choose_gpus(0, 1, 500) == ((1, 500),)
    assert snap.choose_gpus(0, 1, 1000) == ((2, 1000),)


def test_update_node_keeps_pods_and_changes_static_facts() -> None:
    snap = snapshot(node("n1"))
    running(snap, "w", "n1", cpu=3000)
    snap.update_node(replace(snap.node_spec("n1"), cordoned=True, labels={"a": "b"}))
    assert snap.cordoned[0] and snap.cpu_used[0] == 3000 and "w/0" in snap.pods


def test_remove_node_drops_its_pods_and_frees_the_slot_for_reuse() -> None:
    snap = snapshot(node("n1"), node("n2"))
    running(snap, "w", "n1")
    snap.remove_node("n1")
    assert "w/0" not in snap.pods and "n1" not in snap.index
    snap.add_node(node("n3").build())
    assert snap.index["n3"] == 0


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s.bind(BoundPod("x", "wx", "n2", 500, 100, ((0, 250),))), id="bind"),
        pytest.param(lambda s: s.unbind("w/0"), id="unbind"),
        pytest.param(lambda s: s.add_node(node("n9").gpus(2).build()), id="add-node"),
        pytest.param(lambda s: s.set_cordoned("n2"), id="cordon"),
        pytest.param(lambda s: s.update_node(replace(s.node_spec("n2"), gpu_count=1)), id="shrink-gpus"),
        pytest.param(lambda s: s.remove_node("n1"), id="remove-node-with-pods"),
    ],
)
def test_rollback_restores_the_exact_state(change) -> None:
    snap = snapshot(node("n1").gpus(2), node("n2").gpus(2))
    running(snap, "w", "n1", gpus=1)
    before = digest(snap)
    token = snap.checkpoint()
    change(snap)
    assert digest(snap) != before
    snap.rollback(token)
    assert digest(snap) == before


def test_nested_trial_commit_is_still_undone_by_the_outer_rollback() -> None:
    snap = snapshot(node("n1"))
    before = digest(snap)
    outer = snap.checkpoint()
    inner = snap.checkpoint()
    running(snap, "w", "n1")
    snap.commit(inner)
    snap.rollback(outer)
    assert digest(snap) == before


def test_from_nodes_with_bulk_pods_equals_incremental_binds() -> None:
    specs = [node(f"n{i}").gpus(4).build() for i in range(3)]
    pods = [BoundPod(f"p{i}", f"w{i % 2}", f"n{i % 3}", 1000, 512, ((i % 4, 500),)) for i in range(6)]
    bulk = Snapshot.from_nodes(specs, pods)
    one = Snapshot.from_nodes(specs)
    for p in pods:
        one.bind(p)
    assert digest(bulk) == digest(one)


def test_bulk_bind_over_allocation_binds_nothing() -> None:
    snap = snapshot(node("n1").cpu(2000))
    with pytest.raises(ValueError, match="over-allocates"):
        snap.bind_many([BoundPod("a", "w", "n1", 1500), BoundPod("b", "w", "n1", 1500)])
    assert not snap.pods and snap.cpu_used[0] == 0


def test_rollback_across_a_growth_of_the_gpu_axis_restores_gpu_rows() -> None:
    snap = snapshot(node("n1").gpus(1))
    before = digest(snap)
    token = snap.checkpoint()
    snap.set_cordoned("n1")
    snap.add_node(node("big").gpus(8).build())  # widens the per-GPU arrays
    snap.rollback(token)
    assert digest(snap) == before and snap.gpu_full[0] == 1
