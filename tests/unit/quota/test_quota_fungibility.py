"""Flavor assignment and fungibility: which flavor, and when to try the next one.

Source: https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/ ("Resource Groups",
"Flavors and borrowing semantics", "FlavorFungibility").
"""

import pytest
from quota_helpers import admit_now, engine_of, flavor_of, run, submit, targets

from libs.quota import Reason
from libs.quota.builders import make_cluster_queue, make_workload


def spot_then_on_demand(borrow="Borrow", preempt="TryNextFlavor"):
    """cq lists spot (2 CPU) then on-demand (4 CPU); peer lends 4 spot CPUs."""
    cq = (make_cluster_queue("cq").cohort("c").flavor("spot", cpu=2).flavor("on-demand", cpu=4)
          .preemption(within="LowerPriority").fungibility(borrow, preempt).obj())
    peer = make_cluster_queue("peer").cohort("c").flavor("spot", cpu=4).obj()
    return engine_of(cq, peer)


def test_first_flavor_with_room_wins():
    """cluster_queue#resources: "Kueue assigns the first flavor ... that has enough unused quota"."""
    engine = spot_then_on_demand()
    admit_now(engine, make_workload("w").queue("cq").request(cpu=2).obj())
    assert flavor_of(engine, "w") == "spot"


@pytest.mark.parametrize(("when_can_borrow", "flavor"), [
    pytest.param("Borrow", "spot", id="cluster_queue#flavorfungibility: whenCanBorrow Borrow stops at spot"),
    pytest.param("TryNextFlavor", "on-demand",
                 id="cluster_queue#flavorfungibility: whenCanBorrow TryNextFlavor prefers on-demand without borrowing"),
])
def test_when_can_borrow(when_can_borrow, flavor):
    engine = spot_then_on_demand(borrow=when_can_borrow)
    admit_now(engine, make_workload("w").queue("cq").request(cpu=3).obj())
    assert flavor_of(engine, "w") == flavor


@pytest.mark.parametrize(("when_can_preempt", "outcome"), [
    pytest.param("TryNextFlavor", "on-demand",
                 id="cluster_queue#flavorfungibility: whenCanPreempt TryNextFlavor fits on-demand, no preemption"),
    pytest.param("Preempt", "preempt",
                 id="cluster_queue#flavorfungibility: whenCanPreempt Preempt preempts in spot first"),
])
def test_when_can_preempt(when_can_preempt, outcome):
    cq = (make_cluster_queue("cq").flavor("spot", cpu=2).flavor("on-demand", cpu=4)
          .preemption(within="LowerPriority").fungibility("Borrow", when_can_preempt).obj())
    engine = engine_of(cq)
    admit_now(engine, make_workload("low").queue("cq").request(cpu=2).priority(-1).obj())
    submit(engine, make_workload("high").queue("cq").request(cpu=2).priority(5).created(1).obj())
    result = run(engine)
    if outcome == "preempt":
        assert targets(result) == {"low"} and result.admitted == ()
    else:
        assert result.admitted[0].admission.pod_sets[0].flavors == {"cpu": "on-demand"}


def test_resource_groups_choose_flavors_independently():
    """cluster_queue#resource-groups: cpu/memory follow one flavor list, gpu another."""
    cq = (make_cluster_queue("cq").flavor("spot", cpu=1, memory="1Gi").flavor("on-demand", cpu=8, memory="32Gi")
          .flavor("h100", gpu=0).flavor("a100", gpu=8).obj())
    engine = engine_of(cq)
    admit_now(engine, make_workload("train").queue("cq").request(cpu=4, memory="16Gi", gpu=2).obj())
    assert engine.reservations["train"].admission.pod_sets[0].flavors == {
        "cpu": "on-demand", "memory": "on-demand", "nvidia.com/gpu": "a100"}
    assert engine.reservations["train"].admission.node_labels == {"a100": {"pool": "a100"},
                                                                  "on-demand": {"pool": "on-demand"}}


def test_pod_sets_are_admitted_together_and_count_against_each_other():
    """workload#pod-sets: a driver and executors must fit together (all or nothing)."""
    engine = engine_of(make_cluster_queue("cq").flavor("spot", cpu=4).flavor("on-demand", cpu=8).obj())
    wl = make_workload("spark").queue("cq").request(cpu=2).pod_set("executors", 3, cpu=1).obj()
    admit_now(engine, wl)
    assignment = engine.reservations["spark"].admission.pod_sets
    assert [a.flavors["cpu"] for a in assignment] == ["spot", "on-demand"]  # 2+3 > 4 spot


def test_uncovered_resource_is_explained():
    engine = engine_of(make_cluster_queue("cq").flavor("spot", cpu=4).obj())
    submit(engine, make_workload("w").queue("cq").request(cpu=1, gpu=1).obj())
    why = run(engine).pending[0].why
    assert why.reason is Reason.RESOURCE_NOT_COVERED
    assert why.message == "cluster queue cq has no quota for GPU (nvidia.com/gpu)"
