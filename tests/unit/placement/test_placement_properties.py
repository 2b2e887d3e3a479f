"""Property tests: no over-allocation, exact undo, whole gangs, caches equal fresh computation."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from placement_builders import digest, node, snapshot

from libs.placement import (
    GPU_MILLI, PlacementOutcome, PodSet, Snapshot, Strategy, TopologyLevel, TopologyMode, TopologyRequest,
    TypicalPod, Workload, place,
)
from libs.placement.equivalence import scores_for
from libs.placement.filters import shape_of, static_key
from libs.placement.gang import scorer_for
from libs.placement.preemption import PreemptionOutcome, find_preemption_targets
from libs.placement.scoring import PlacementPolicy

SETTINGS = settings(max_examples=int(os.environ.get("PLACEMENT_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
MIX = (TypicalPod(4000, 1000, 1, popularity=0.5), TypicalPod(2000, 500, 1, popularity=0.3),
       TypicalPod(8000, 0, 0, popularity=0.2))
POLICIES = st.sampled_from([
    PlacementPolicy(Strategy.BINPACK), PlacementPolicy(Strategy.SPREAD), PlacementPolicy(Strategy.BEST_FIT),
    PlacementPolicy(Strategy.FGD, typical_pods=MIX),
    PlacementPolicy(Strategy.FGD, typical_pods=MIX, fgd_quantized=True),
    PlacementPolicy(Strategy.FGD, typical_pods=MIX, fgd_quantized=True, fgd_tiebreak=True),
    PlacementPolicy(Strategy.FGD, typical_pods=MIX, fgd_quantized=True, fgd_stranding=True),
    PlacementPolicy(Strategy.FGD, typical_pods=MIX + (TypicalPod(2000, 1000, 1, ("A100",), popularity=0.2),),
                    fgd_stranding=True, fgd_packing=50.0, fgd_models=True),
])

nodes_st = st.lists(
    st.tuples(st.sampled_from([8000, 16000, 32000]), st.sampled_from([0, 1, 2, 4, 8]),
              st.sampled_from(["H100", "A100"]), st.sampled_from(["r1", "r2", "r3"]), st.booleans()),
    min_size=1, max_size=8)


def build(nodes) -> Snapshot:
    return snapshot(*(node(f"n{i}").cpu(cpu).mem(65536).gpus(g, model).rack(rack) if g else
                      node(f"n{i}").cpu(cpu).mem(65536).rack(rack)
                      for i, (cpu, g, model, rack, _) in enumerate(nodes)))


@st.composite
def pod_sets(draw, name: str) -> PodSet:
    gpus = draw(st.sampled_from([0, 0, 1, 1, 2, 4, 8]))
    milli = draw(st.sampled_from([1000, 1000, 250, 500, 700])) if gpus == 1 else 1000
    count = draw(st.integers(1, 6))
    elastic = draw(st.booleans())
    topo = draw(st.sampled_from([None, None, TopologyRequest(TopologyLevel.RACK),
                                 TopologyRequest(TopologyLevel.RACK, TopologyMode.PREFERRED),
                                 TopologyRequest(TopologyLevel.HOST)]))
    return PodSet(name, count, draw(st.sampled_from([500, 2000, 6000])), 1024, gpus, milli,
                  draw(st.sampled_from([(), ("H100",)])) if gpus else (), topology=topo,
                  min_count=draw(st.integers(1, count)) if elastic else None)


@st.composite
def workloads(draw, wid: str) -> Workload:
    sets = tuple(draw(pod_sets(f"s{j}")) for j in range(draw(st.integers(1, 3))))
    return Workload(wid, sets, priority=draw(st.integers(0, 5)))


def check_accounting(snap: Snapshot) -> None:
    """Usage equals the sum of bound pods and never exceeds allocatable, per resource and per GPU."""
    for slot in range(snap.size):
        spec = snap.specs[slot]
        if spec is None:
            continue
        pods = snap.pods_on[slot].values()
        assert snap.cpu_used[slot] == sum(p.cpu_milli for p in pods) <= spec.cpu_milli
        assert snap.mem_used[slot] == sum(p.memory_mib for p in pods) <= spec.memory_mib
        used = np.zeros(snap.gpu_left.shape[1], np.int64)
        for p in pods:
            for g, m in p.gpus:
                used[g] += m
        expected = np.where(np.arange(len(used)) < spec.gpu_count, GPU_MILLI, 0) - used
        assert (expected >= 0).all() and (snap.gpu_left[slot] == expected).all()
        assert snap.gpu_full[slot] == int((expected == GPU_MILLI).sum())


@SETTINGS
@given(nodes_st, st.lists(workloads("w"), min_size=1, max_size=8), POLICIES, st.data())
def test_random_placements_never_over_allocate(nodes, wls, policy, data) -> None:
    snap = build(nodes)
    for i, w in enumerate(wls):
        place(snap, Workload(f"w{i}", w.pod_sets, w.priority), policy)
        if snap.pods and data.draw(st.booleans()):
            snap.unbind(data.draw(st.sampled_from(sorted(snap.pods))))
        check_accounting(snap)


@SETTINGS
@given(nodes_st, workloads("g"), POLICIES)
def test_gang_is_placed_whole_or_not_at_all(nodes, w, policy) -> None:
    snap = build(nodes)
    before = digest(snap)
    result = place(snap, w, policy)
    if result.outcome == PlacementOutcome.NO_FIT:
        assert digest(snap) == before and result.assignments == () and result.failures
        return
    per_set = {ps.name: 0 for ps in w.pod_sets}
    for a in result.assignments:
        per_set[a.pod_set] += 1
    for ps in w.pod_sets:
        assert ps.required_count <= per_set[ps.name] <= ps.count
    assert len(snap.workload_pods[w.id]) == len(result.assignments)
    assert (result.outcome == PlacementOutcome.FIT) == all(per_set[ps.name] == ps.count for ps in w.pod_sets)


@SETTINGS
@given(nodes_st, st.lists(workloads("w"), min_size=1, max_size=6), st.data())
def test_rollback_restores_the_exact_state_after_any_changes(nodes, wls, data) -> None:
    snap = build(nodes)
    place(snap, wls[0])
    before = digest(snap)
    token = snap.checkpoint()
    for i, w in enumerate(wls[1:]):
        place(snap, Workload(f"t{i}", w.pod_sets), Strategy.SPREAD)
        action = data.draw(st.sampled_from(["unbind", "cordon", "remove", "add", "none"]))
        names = sorted(snap.index)
        if action == "unbind" and snap.pods:
            snap.unbind(data.draw(st.sampled_from(sorted(snap.pods))))
        elif action == "cordon" and names:
            snap.set_cordoned(data.draw(st.sampled_from(names)))
        elif action == "remove" and names:
            snap.remove_node(data.draw(st.sampled_from(names)))
        elif action == "add":
            snap.add_node(node(f"extra{i}").gpus(2).build())
    snap.rollback(token)
    assert digest(snap) == before
    check_accounting(snap)


@SETTINGS
@given(nodes_st, st.lists(workloads("w"), min_size=2, max_size=6), POLICIES, st.data())
def test_cached_scores_equal_a_fresh_computation(nodes, wls, policy, data) -> None:
    snap = build(nodes)
    probe = wls[0]
    scorer = scorer_for(snap, policy.default, policy)
    for i, w in enumerate(wls[1:]):
        for ps in probe.pod_sets:
            scores_for(snap, static_key(probe, ps), shape_of(ps), scorer)  # warm the cache
        place(snap, Workload(f"w{i}", w.pod_sets), policy)
        if snap.pods and data.draw(st.booleans()):
            snap.unbind(data.draw(st.sampled_from(sorted(snap.pods))))
    for ps in probe.pod_sets:
        cached = scores_for(snap, static_key(probe, ps), shape_of(ps), scorer).copy()
        snap.memo.clear()
        fresh = scores_for(snap, static_key(probe, ps), shape_of(ps), scorer_for(snap, policy.default, policy))
        np.testing.assert_allclose(cached, fresh)


@SETTINGS
@given(nodes_st, st.lists(workloads("v"), min_size=1, max_size=6), workloads("hp"))
def test_preemption_victims_are_lower_priority_whole_gangs_that_make_room(nodes, wls, hp) -> None:
    snap = build(nodes)
    for i, w in enumerate(wls):
        place(snap, Workload(f"v{i}", w.pod_sets, priority=w.priority), now=0.0)
    before = digest(snap)
    hp = Workload("hp", hp.pod_sets, priority=3)
    plan = find_preemption_targets(snap, hp, now=10.0)
    assert digest(snap) == before
    if plan.outcome != PreemptionOutcome.FOUND:
        return
    for v in plan.victims:
        assert v.priority < 3 and set(v.pods) == snap.workload_pods[v.workload_id]
    for v in plan.victims:
        for p in v.pods:
            snap.unbind(p)
    assert place(snap, hp).placed
