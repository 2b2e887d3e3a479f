"""Kueue's flavor assigner cases, as table tests through the public API (one real cycle each).

Source: kubernetes-sigs/kueue pkg/scheduler/flavorassigner/flavorassigner_test.go, TestAssignFlavors.
Each case id is the upstream case name. Upstream fakes the preemption oracle; here the oracle
is the real target search, so where upstream says "preemption possible" the case holds a real
victim (a lower-priority workload in the queue, ``victim``) and the outcome is a named target.
Upstream's ``clusterQueueUsage`` is a running workload (``usage``), a secondary cluster queue's
usage a running workload there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from kueue_driver import Driver, admitted, cq, targets, wl

from libs.quota import PodSet, ResourceFlavor, Taint, Toleration, Workload, parse_quantity
from libs.quota.builders import make_workload

SOURCE = "pkg/scheduler/flavorassigner/flavorassigner_test.go::TestAssignFlavors"
SPOT = Taint("instance", "spot", "NoSchedule")
FLAVORS = (ResourceFlavor("default"), ResourceFlavor("one", {"type": "one"}), ResourceFlavor("two", {"type": "two"}),
           ResourceFlavor("b_one", {"b_type": "one"}), ResourceFlavor("b_two", {"b_type": "two"}),
           ResourceFlavor("tainted", node_taints=(SPOT,)),
           ResourceFlavor("taint_and_toleration", node_taints=(SPOT,),
                          tolerations=(Toleration("instance", "Equal", "spot", "NoSchedule"),)))
TN, MSS = "TryNextFlavor", "MayStopSearch"


@dataclass(frozen=True)
class Case:
    name: str
    queues: tuple
    incoming: object  # the workload (submitted to "cq")
    want_flavors: list | None = None  # per pod set {resource: flavor}, admitted in the first cycle
    want_targets: dict = field(default_factory=dict)  # preemption instead (flavor checked after settle)
    want_reason: str | None = None  # pending instead
    running: list = field(default_factory=list)  # (workload, queue, flavor)
    borrowing: bool | None = None
    final_flavor: str | None = None  # after the victims left


def two(name="cq", cohort=None, **kw):
    return cq(name, cohort, **kw, flavors=[("one", {"pods": 10, "cpu": kw.pop("one", 10)}),
                                          ("two", {"pods": 10, "cpu": kw.pop("two", 10)})])


def spec(*pod_sets) -> Workload:
    """A multi-pod-set workload from (name, count, per-pod requests)."""
    return Workload("in", "default", "", tuple(PodSet(name, count, {r: parse_quantity(r, v) for r, v in req.items()})
                                               for name, count, req in pod_sets))


def ff_cq(name, cohort, fungibility, flavors, **kw):
    return cq(name, cohort, fungibility=fungibility, flavors=flavors, **kw)


SEC_ONE_1 = cq("secondary", "test-cohort", flavors=[("one", {"cpu": 1})])
CASES = [
    Case("single flavor, fits", (cq("cq", flavors=[("default", {"cpu": 1, "memory": "2Mi"})]),),
         wl("in", cpu=1, memory="1Mi"), [{"cpu": "default", "memory": "default"}]),
    Case("single flavor, fits tainted flavor", (cq("cq", flavors=[("tainted", {"cpu": 4})]),),
         make_workload("in").request(cpu=1)
         .toleration("instance", "spot").obj(), [{"cpu": "tainted"}]),
    Case("single flavor, fits tainted flavor with toleration",
         (cq("cq", flavors=[("taint_and_toleration", {"cpu": 4})]),),
         wl("in", cpu=1), [{"cpu": "taint_and_toleration"}]),
    Case("single flavor, used resources, doesn't fit", (cq("cq", flavors=[("default", {"cpu": 4})]),),
         wl("in", cpu=2), want_reason="QuotaExhausted", running=[(wl("usage", cpu=3), "cq", None)]),
    Case("multiple resource groups, fits",
         (cq("cq", flavors=[("one", {"cpu": 2}), ("two", {"cpu": 4}), ("b_one", {"memory": "1Gi"}),
                            ("b_two", {"memory": "5Gi"})]),), wl("in", cpu=3, memory="10Mi"),
         [{"cpu": "two", "memory": "b_one"}]),
    Case("multiple resource groups, one could fit with preemption, other doesn't fit",
         (cq("cq", flavors=[("one", {"cpu": 3}), ("b_one", {"memory": "1Mi"})]),), wl("in", cpu=3, memory="10Mi"),
         want_reason="NoFit", running=[(wl("usage", cpu=1), "cq", None)]),
    Case("multiple resource groups with multiple resources, fits",
         (cq("cq", flavors=[("one", {"cpu": 2, "memory": "1Gi"}), ("two", {"cpu": 4, "memory": "15Mi"}),
                            ("b_one", {"gpu": 4}), ("b_two", {"gpu": 2})]),), wl("in", cpu=3, memory="10Mi", gpu=3),
         [{"cpu": "two", "memory": "two", "nvidia.com/gpu": "b_one"}]),
    Case("multiple resources in a group, doesn't fit",
         (cq("cq", flavors=[("one", {"cpu": 2, "memory": "1Gi"}), ("two", {"cpu": 4, "memory": "5Mi"})]),),
         wl("in", cpu=3, memory="10Mi"), want_reason="NoFit"),
    Case("multiple flavors, fits while skipping tainted flavor",
         (cq("cq", flavors=[("tainted", {"cpu": 4}), ("two", {"cpu": 4})]),), wl("in", cpu=3), [{"cpu": "two"}]),
    Case("multiple flavors, fits a node selector", (cq("cq", flavors=[("one", {"cpu": 4}), ("two", {"cpu": 4})]),),
         make_workload("in").request(cpu=1)
         .node_selector(type="two", ignored1="foo").affinity([("ignored2", "In", ("bar",))]).obj(), [{"cpu": "two"}]),
    Case("multiple flavors, fits with node affinity",
         (cq("cq", flavors=[("one", {"cpu": 4, "memory": "1Gi"}), ("two", {"cpu": 4, "memory": "1Gi"})]),),
         make_workload("in").request(cpu=1, memory="1Mi")
         .node_selector(ignored1="foo").affinity([("type", "In", ("two",))]).obj(),
         [{"cpu": "two", "memory": "two"}]),
    Case("multiple flavors, node affinity fits any flavor",
         (cq("cq", flavors=[("one", {"cpu": 4}), ("two", {"cpu": 4})]),),
         make_workload("in").request(cpu=1)
         .affinity([("ignored2", "In", ("bar",))], [("cpuType", "In", ("two",))]).obj(), [{"cpu": "one"}]),
    Case("multiple flavors, doesn't fit node affinity", (cq("cq", flavors=[("one", {"cpu": 4}), ("two", {"cpu": 4})]),),
         make_workload("in").request(cpu=1)
         .affinity([("type", "In", ("three",))]).obj(), want_reason="NoFit"),
    Case("multiple specs, fit different flavors", (cq("cq", flavors=[("one", {"cpu": 4}), ("two", {"cpu": 10})]),),
         spec(("driver", 1, {"cpu": 5}), ("worker", 1, {"cpu": 3})), [{"cpu": "two"}, {"cpu": "one"}]),
    Case("multiple specs, fits borrowing",
         (cq("cq", "test-cohort", flavors=[("default", {"cpu": (2, 98), "memory": "2Gi"})]),
          cq("secondary", "test-cohort", flavors=[("default", {"cpu": 198, "memory": "198Gi"})])),
         spec(("driver", 1, {"cpu": 4, "memory": "1Gi"}), ("worker", 1, {"cpu": 6, "memory": "4Gi"})),
         [{"cpu": "default", "memory": "default"}] * 2, borrowing=True),
    Case("num pods don't fit", (cq("cq", flavors=[("default", {"pods": 2, "cpu": 10})]),), wl("in", cpu=1, count=3),
         want_reason="NoFit"),
    Case("preempt before try next flavor", (two(within="LowerPriority", fungibility=(MSS, MSS)),), wl("in", cpu=9),
         want_targets={"victim": "InClusterQueue"}, running=[(wl("victim", p=-1, cpu=2), "cq", "one")],
         final_flavor="one"),
    Case("preempt try next flavor", (two(within="LowerPriority"),), wl("in", cpu=9),
         [{"cpu": "two", "pods": "two"}], running=[(wl("victim", p=-1, cpu=2), "cq", "one")]),
    Case("borrow try next flavor, found the first flavor",
         (ff_cq("cq", "test-cohort", (TN, TN),
                [("one", {"pods": 10, "cpu": (10, 1)}), ("two", {"pods": 10, "cpu": 1})]),
          SEC_ONE_1), wl("in", cpu=9), [{"cpu": "one", "pods": "one"}], running=[(wl("usage", cpu=2), "cq", "one")],
         borrowing=True),
    Case("borrow try next flavor, found the second flavor",
         (ff_cq("cq", "test-cohort", (TN, TN),
                [("one", {"pods": 10, "cpu": (10, 1)}), ("two", {"pods": 10, "cpu": 10})]),
          SEC_ONE_1), wl("in", cpu=9), [{"cpu": "two", "pods": "two"}], running=[(wl("usage", cpu=2), "cq", "one")],
         borrowing=False),
    Case("borrow before try next flavor",
         (cq("cq", "test-cohort", flavors=[("one", {"pods": 10, "cpu": (10, 1)}), ("two", {"pods": 10, "cpu": 10})]),
          SEC_ONE_1), wl("in", cpu=9), [{"cpu": "one", "pods": "one"}], running=[(wl("usage", cpu=2), "cq", "one")],
         borrowing=True),
    # Adapted: the victim is in the queue itself (upstream fakes "preemption possible" in flavor one).
    Case("when borrowing while preemption is needed for flavor one; WhenCanBorrow=Borrow",
         (ff_cq("cq", "test-cohort", (MSS, MSS), [("one", {"cpu": (0, 12)}), ("two", {"cpu": 12})],
                within="LowerPriority", reclaim="LowerPriority", borrow="LowerPriority"),
          cq("secondary", "test-cohort", flavors=[("one", {"cpu": 12})])),
         wl("in", cpu=12), want_targets={"victim": "InClusterQueue"},
         running=[(wl("victim", p=-1, cpu=10), "cq", "one")],
         final_flavor="one"),
    Case("when borrowing while preemption is needed for flavor one; WhenCanBorrow=TryNextFlavor",
         (ff_cq("cq", "test-cohort", (TN, MSS), [("one", {"cpu": (0, 12)}), ("two", {"cpu": 12})],
                within="LowerPriority", reclaim="LowerPriority", borrow="LowerPriority"),
          cq("secondary", "test-cohort", flavors=[("one", {"cpu": 12})])),
         wl("in", cpu=12), [{"cpu": "two"}], running=[(wl("victim", p=-1, cpu=10), "cq", "one")]),
    Case("when borrowing while preemption is needed, but borrowingLimit exceeds the quota available in the cohort",
         (cq("cq", "test-cohort", reclaim="LowerPriority", borrow="LowerPriority", flavors=[("one", {"cpu": (0, 12)})]),
          cq("secondary", "test-cohort", flavors=[("one", {"cpu": 11})])),
         wl("in", cpu=12), want_reason="NoFit", running=[(wl("usage", cpu=10), "secondary", "one")]),
    Case("lend try next flavor, found the second flavor",
         (ff_cq("cq", "test-cohort", (TN, TN), [("one", {"pods": 10, "cpu": (10, None, 1)}),
                                                 ("two", {"pods": 10, "cpu": (10, None, 0)})]), SEC_ONE_1),
         wl("in", cpu=9), [{"cpu": "two", "pods": "two"}], running=[(wl("usage", cpu=2), "cq", "one")]),
    Case("lend try next flavor, found the first flavor",
         (ff_cq("cq", "test-cohort", (TN, TN), [("one", {"pods": 10, "cpu": (10, None, 1)}),
                                                 ("two", {"pods": 10, "cpu": (1, None, 0)})]), SEC_ONE_1),
         wl("in", cpu=9), [{"cpu": "one", "pods": "one"}], running=[(wl("usage", cpu=2), "cq", "one")], borrowing=True),
    Case("cannot preempt in cohort (oracle returns None) for the first flavor, tries the second flavor (which fits)",
         (ff_cq("cq", "test-cohort", (MSS, MSS), [("one", {"cpu": (0, 2)}), ("two", {"cpu": (0, 2)})],
                reclaim="LowerPriority", borrow="LowerPriority"),
          cq("secondary", "test-cohort", flavors=[("one", {"cpu": 2}), ("two", {"cpu": 2})])),
         wl("in", cpu=2), [{"cpu": "two"}], running=[(wl("usage", cpu=2), "secondary", "one")], borrowing=True),
    Case("quota exhausted, but can preempt in cohort and ClusterQueue",
         (cq("cq", "test-cohort", within="LowerPriority", flavors=[("one", {"pods": 10, "cpu": (10, None, 0)})]),
          cq("secondary", "test-cohort", flavors=[("one", {"pods": 0, "cpu": 0})])),
         wl("in", cpu=9), want_targets={"victim": "InClusterQueue"}, running=[(wl("victim", p=-1, cpu=2), "cq", "one")],
         final_flavor="one"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_assign_flavors(case: Case):
    """Source: pkg/scheduler/flavorassigner/flavorassigner_test.go::TestAssignFlavors/<case id>."""
    d = Driver(case.queues, flavors=FLAVORS)
    for workload, queue, flavor in case.running:
        d.running(workload, queue, flavor)
    d.submit(case.incoming, "cq")
    first = d.cycle()
    if case.want_flavors is not None:
        assert admitted(first) == ["in"], first.pending
        assert [d.flavors_of("in", i) for i in range(len(case.want_flavors))] == case.want_flavors
        if case.borrowing is not None:
            assert first.admitted[0].borrowing is case.borrowing
    elif case.want_targets:
        assert (targets(first), admitted(first)) == (case.want_targets, [])
        d.settle()
        assert set(d.flavors_of("in").values()) == {case.final_flavor}
    else:
        assert admitted(first) == [] and targets(first) == {}
        assert d.reason("in").value == case.want_reason
