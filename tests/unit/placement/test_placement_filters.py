"""Filters: each one rejects the node it should, and says so in the aggregated reasons."""

from __future__ import annotations

import pytest
from placement_builders import node, rack_topology, req, running, snapshot, tol, workload

from libs.placement import BoundPod, PlacementOutcome, Reason, TaintEffect, place


def one_node_case(builder, pod_kw: dict, wl_kw: dict | None = None):
    snap = snapshot(builder)
    w = workload("w").pods("main", 1, **pod_kw)
    for attr, value in (wl_kw or {}).items():
        getattr(w, attr)(*value)
    return snap, w.build()


REJECTS = [
    pytest.param(node("n"), {}, {"clusters": ("c2",)}, Reason.CLUSTER_MISMATCH, id="other-cluster"),
    pytest.param(node("n"), {}, {"pools": ("gpu",)}, Reason.CLUSTER_MISMATCH, id="other-pool"),
    pytest.param(node("n").unhealthy(), {}, None, Reason.NODE_UNHEALTHY, id="unhealthy"),
    pytest.param(node("n").cordoned(), {}, None, Reason.NODE_CORDONED, id="cordoned"),
    pytest.param(node("n").taint("dedicated", "infer"), {}, None, Reason.UNTOLERATED_TAINT, id="taint"),
    pytest.param(node("n").taint("dedicated", "infer"), {"tolerations": (tol("dedicated", "train"),)}, None,
                 Reason.UNTOLERATED_TAINT, id="taint-wrong-value"),
    pytest.param(node("n").taint("k", "", TaintEffect.NO_EXECUTE),
                 {"tolerations": (tol("k", op="Exists", effect=TaintEffect.NO_SCHEDULE),)}, None,
                 Reason.UNTOLERATED_TAINT, id="taint-wrong-effect"),
    pytest.param(node("n").label("disk", "hdd"), {"node_selector": {"disk": "ssd"}}, None,
                 Reason.NODE_SELECTOR_MISMATCH, id="selector-value"),
    pytest.param(node("n"), {"node_selector": {"disk": "ssd"}}, None, Reason.NODE_SELECTOR_MISMATCH,
                 id="selector-missing-label"),
    pytest.param(node("n").label("tier", "bronze"), {"affinity": (req("tier", "In", "gold", "silver"),)}, None,
                 Reason.NODE_AFFINITY_MISMATCH, id="affinity-in"),
    pytest.param(node("n").label("tier", "gold"), {"affinity": (req("tier", "NotIn", "gold"),)}, None,
                 Reason.NODE_AFFINITY_MISMATCH, id="affinity-notin"),
    pytest.param(node("n"), {"affinity": (req("gpu-direct", "Exists"),)}, None,
                 Reason.NODE_AFFINITY_MISMATCH, id="affinity-exists"),
    pytest.param(node("n").label("spot", "1"), {"affinity": (req("spot", "DoesNotExist"),)}, None,
                 Reason.NODE_AFFINITY_MISMATCH, id="affinity-does-not-exist"),
    pytest.param(node("n").gpus(8, "T4"), {"gpus": 1, "models": ("A100", "H100")}, None,
                 Reason.GPU_MODEL_MISMATCH, id="gpu-model"),
    pytest.param(node("n").cpu(500), {"cpu": 1000}, None, Reason.INSUFFICIENT_CPU, id="cpu"),
    pytest.param(node("n").mem(512), {"mem": 1024}, None, Reason.INSUFFICIENT_MEMORY, id="memory"),
    pytest.param(node("n").gpus(2), {"gpus": 4}, None, Reason.INSUFFICIENT_GPU, id="gpu-count"),
    pytest.param(node("n"), {"gpus": 1}, None, Reason.INSUFFICIENT_GPU, id="gpu-on-cpu-node"),
]


@pytest.mark.parametrize("builder,pod_kw,wl_kw,reason", REJECTS)
def test_filter_rejects_with_its_reason(builder, pod_kw, wl_kw, reason) -> None:
    snap, w = one_node_case(builder, pod_kw, wl_kw)
    result = place(snap, w)
    assert result.outcome == PlacementOutcome.NO_FIT
    assert result.reasons == (reason,)
    assert dict(result.failures[0].diagnosis.counts)[reason] == 1


ACCEPTS = [
    pytest.param(node("n").taint("dedicated", "infer"), {"tolerations": (tol("dedicated", "infer"),)},
                 id="taint-tolerated-equal"),
    pytest.param(node("n").taint("dedicated", "infer"), {"tolerations": (tol("dedicated", op="Exists"),)},
                 id="taint-tolerated-exists"),
    pytest.param(node("n").taint("x", "y"), {"tolerations": (tol(op="Exists"),)}, id="tolerate-everything"),
    pytest.param(node("n").taint("soft", "", TaintEffect.PREFER_NO_SCHEDULE), {}, id="prefer-no-schedule-ignored"),
    pytest.param(node("n").label("disk", "ssd"), {"node_selector": {"disk": "ssd"}}, id="selector"),
    pytest.param(node("n").label("tier", "gold"), {"affinity": (req("tier", "In", "gold", "silver"),)},
                 id="affinity-in"),
    pytest.param(node("n"), {"affinity": (req("tier", "NotIn", "gold"),)}, id="affinity-notin-absent"),
    pytest.param(node("n").gpus(8, "A100"), {"gpus": 8, "models": ("A100", "H100")}, id="gpu-model-any-of"),
    pytest.param(node("n").gpus(1, "T4"), {"gpus": 1, "gpu_milli": 250}, id="shared-gpu"),
]


@pytest.mark.parametrize("builder,pod_kw", ACCEPTS)
def test_filter_accepts_matching_node(builder, pod_kw) -> None:
    snap, w = one_node_case(builder, pod_kw)
    assert place(snap, w).outcome == PlacementOutcome.FIT


def test_shared_gpu_needs_one_gpu_with_enough_left_not_the_sum() -> None:
    snap = snapshot(node("n").gpus(2))
    snap.bind(BoundPod("x", "x", "n", gpus=((0, 600),)))
    snap.bind(BoundPod("y", "y", "n", gpus=((1, 600),)))
    result = place(snap, workload("w").pods("main", gpus=1, gpu_milli=500).build())
    assert result.reasons == (Reason.INSUFFICIENT_GPU,)  # 800 milli free in total, but 400 per GPU


def test_reasons_are_aggregated_per_first_failing_filter_in_words() -> None:
    snap = snapshot(node("a").gpus(8, "A100"), node("b").gpus(8, "A100"), node("c").gpus(8, "H100").cordoned(),
                    node("d").gpus(8, "H100"))
    running(snap, "busy", "d", gpus=8)
    result = place(snap, workload("w").pods("workers", 1, gpus=8, models=("H100",)).build())
    assert result.failures[0].diagnosis.message == \
        "0/4 nodes: 1 cordoned, 2 lack GPU model H100, 1 lack free GPU"
    assert result.message.startswith("workers: 0/1 pods fit (need 1); 0/4 nodes:")


def test_topology_failure_names_the_level_and_the_largest_room() -> None:
    snap = snapshot(node("a").gpus(8).rack("r1"), node("b").gpus(8).rack("r2"))
    w = workload("w").pods("workers", 3, gpus=4, topology=rack_topology()).build()
    result = place(snap, w)
    assert result.reasons == (Reason.TOPOLOGY_NO_DOMAIN,)
    assert "no rack has room for 3 pods (largest fits 2)" in result.message


def test_static_changes_invalidate_cached_masks() -> None:
    from dataclasses import replace
    snap = snapshot(node("n").cordoned())
    w = workload("w").pods("main", node_selector={"disk": "ssd"}).build()
    assert place(snap, w, commit=False).reasons == (Reason.NODE_CORDONED,)
    snap.set_cordoned("n", False)
    assert place(snap, w, commit=False).reasons == (Reason.NODE_SELECTOR_MISMATCH,)
    snap.update_node(replace(snap.node_spec("n"), labels={"disk": "ssd"}))
    assert place(snap, w, commit=False).outcome == PlacementOutcome.FIT


@pytest.mark.parametrize(
    "spec,models",
    [
        pytest.param("H100|A100", ("A100", "H100"), id="two-models"),
        pytest.param("V100M16", ("V100M16",), id="one-model"),
        pytest.param("", (), id="empty-any"),
        pytest.param("nan", (), id="trace-nan-any"),
        pytest.param(None, (), id="none-any"),
    ],
)
def test_gpu_model_spec_parsing(spec, models) -> None:
    from libs.placement import gpu_models_from_spec
    assert gpu_models_from_spec(spec) == models
