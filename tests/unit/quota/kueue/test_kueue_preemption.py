"""Kueue's classic preemption cases, as table tests through the quota core's public API.

Source: kubernetes-sigs/kueue pkg/scheduler/preemption/preemption_test.go, TestPreemption. Each
case id is the upstream case name. Upstream hands the preemptor a ready-made flavor assignment;
here the real flavor assigner makes it in a real cycle, then victims are evicted and the final
state is checked (the preemptor holds quota, the victims wait in backoff).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from kueue_driver import Driver, admitted, cohort, cq, targets, wl

SOURCE = "pkg/scheduler/preemption/preemption_test.go::TestPreemption"
CQ, RC, RWB = "InClusterQueue", "InCohortReclamation", "InCohortReclaimWhileBorrowing"
LP = "LowerPriority"


def default_queues():
    """The upstream defaultClusterQueues."""
    lp2 = dict(within=LP, reclaim=LP)
    std = dict(borrow=LP, threshold=0)
    return (
        cq("standalone", within=LP, flavors=[("default", {"cpu": 6}), ("alpha", {"memory": "3Gi"}),
                                             ("beta", {"memory": "3Gi"})]),
        cq("c1", "cohort", **lp2, flavors=[("default", {"cpu": (6, 6), "memory": ("3Gi", "3Gi")})]),
        cq("c2", "cohort", reclaim="Any", flavors=[("default", {"cpu": (6, 6), "memory": ("3Gi", "3Gi")})]),
        cq("d1", "cohort-no-limits", **lp2, flavors=[("default", {"cpu": 6, "memory": "3Gi"})]),
        cq("d2", "cohort-no-limits", reclaim="Any", flavors=[("default", {"cpu": 6, "memory": "3Gi"})]),
        cq("l1", "legion", **lp2, flavors=[("default", {"cpu": (6, 12), "memory": ("3Gi", "6Gi")})]),
        cq("preventStarvation", within="LowerOrNewerEqualPriority", flavors=[("default", {"cpu": 6})]),
        cq("a_standard", "with_shared_cq", reclaim=LP, **std, flavors=[("default", {"cpu": (1, 12)})]),
        cq("b_standard", "with_shared_cq", within=LP, reclaim="Any", **std, flavors=[("default", {"cpu": (1, 12)})]),
        cq("a_best_effort", "with_shared_cq", reclaim=LP, **std, flavors=[("default", {"cpu": (1, 12)})]),
        cq("b_best_effort", "with_shared_cq", reclaim=LP, **std, flavors=[("default", {"cpu": (0, 13)})]),
        cq("shared", "with_shared_cq", flavors=[("default", {"cpu": 10})]),
        cq("lend1", "cohort-lend", **lp2, flavors=[("default", {"cpu": (6, None, 4)})]),
        cq("lend2", "cohort-lend", **lp2, flavors=[("default", {"cpu": (6, None, 2)})]),
        cq("a", "cohort-three", within=LP, reclaim="Any", flavors=[("default", {"cpu": 2, "memory": 2})]),
        cq("b", "cohort-three", flavors=[("default", {"cpu": 2, "memory": 2})]),
        cq("c", "cohort-three", flavors=[("default", {"cpu": 2, "memory": 2})]),
    )


@dataclass(frozen=True)
class Case:
    name: str
    running: list  # (workload, cluster queue[, flavor per resource]) already holding quota
    incoming: tuple  # (workload, cluster queue)
    want: dict  # victim → reason in the first cycle
    queues: tuple | None = None
    cohorts: tuple = ()
    reserved_at: dict = field(default_factory=dict)  # victim → reservation time (newer first)


def r(name, queue, p=0, created=0.0, **req):
    return (wl(name, p=p, created=created, **req), queue)


CASES = [
    Case("preempt lowest priority", [r("low", "standalone", -1, cpu=2), r("mid", "standalone", cpu=2),
                                     r("high", "standalone", 1, cpu=2)], r("in", "standalone", 1, cpu=2), {"low": CQ}),
    Case("preempt multiple", [r("low", "standalone", -1, cpu=2), r("mid", "standalone", cpu=2),
                              r("high", "standalone", 1, cpu=2)], r("in", "standalone", 1, cpu=3),
         {"low": CQ, "mid": CQ}),
    Case("no preemption for low priority", [r("low", "standalone", -1, cpu=3), r("mid", "standalone", cpu=3)],
         r("in", "standalone", -1, cpu=1), {}),
    Case("not enough low priority workloads", [r("low", "standalone", -1, cpu=3), r("mid", "standalone", cpu=3)],
         r("in", "standalone", 0, cpu=4), {}),
    Case("some free quota, preempt low priority", [r("low", "standalone", -1, cpu=1), r("mid", "standalone", cpu=1),
                                                   r("high", "standalone", 1, cpu=3)], r("in", "standalone", 1, cpu=2),
         {"low": CQ}),
    Case("minimal set excludes low priority", [r("low", "standalone", -1, cpu=1), r("mid", "standalone", cpu=2),
                                               r("high", "standalone", 1, cpu=3)], r("in", "standalone", 1, cpu=2),
         {"mid": CQ}),
    # Adapted: upstream forces flavor beta. Here alpha's workload outranks the preemptor (no victim
    # in alpha), so the real assigner moves on to beta and only beta's workloads are candidates.
    Case("only preempt workloads using the chosen flavor",
         [(wl("low", p=2, memory="2Gi"), "standalone", "alpha"), (wl("mid", memory="1Gi"), "standalone", "beta"),
          (wl("high", p=1, memory="1Gi"), "standalone", "beta")], r("in", "standalone", 1, cpu=1, memory="2Gi"),
         {"mid": CQ}),
    Case("reclaim quota from borrower", [r("c1-low", "c1", -1, cpu=3), r("c2-mid", "c2", cpu=3),
                                         r("c2-high", "c2", 1, cpu=6)], r("in", "c1", 1, cpu=3), {"c2-mid": RC}),
    Case("reclaim quota if workload requests 0 resources for a resource at nominal quota",
         [r("c1-low", "c1", -1, cpu=3, memory="3Gi"), r("c2-mid", "c2", cpu=3), r("c2-high", "c2", 1, cpu=6)],
         r("in", "c1", 1, cpu=3, memory=0), {"c2-mid": RC}),
    # Adapted: upstream forces a Preempt assignment; with 4 CPUs the real assigner admits by borrowing
    # the cohort's free 4, so the incoming asks 5 to keep nobody borrowing and nothing to reclaim.
    Case("no workloads borrowing", [r("c1-high", "c1", 1, cpu=4), r("c2-low-1", "c2", -1, cpu=4)],
         r("in", "c1", 1, cpu=5), {}),
    Case("not enough workloads borrowing", [r("c1-high", "c1", 1, cpu=4), r("c2-low-1", "c2", -1, cpu=4),
                                            r("c2-low-2", "c2", -1, cpu=4)], r("in", "c1", 1, cpu=4), {}),
    Case("preempting locally and borrowing other resources in cohort, without cohort candidates",
         [r("c1-low", "c1", -1, cpu=4), r("c2-low-1", "c2", -1, cpu=4), r("c2-high-2", "c2", 1, cpu=4)],
         r("in", "c1", 1, cpu=4, memory="5Gi"), {"c1-low": CQ}),
    Case("preempting locally and borrowing same resource in cohort",
         [r("c1-med", "c1", 0, cpu=4), r("c1-low", "c1", -1, cpu=4), r("c2-low-1", "c2", -1, cpu=4)],
         r("in", "c1", 1, cpu=4), {"c1-low": CQ}),
    Case("preempting locally and borrowing same resource in cohort; no borrowing limit in the cohort",
         [r("d1-med", "d1", 0, cpu=4), r("d1-low", "d1", -1, cpu=4), r("d2-low-1", "d2", -1, cpu=4)],
         r("in", "d1", 1, cpu=4), {"d1-low": CQ}),
    Case("preempting locally and borrowing other resources in cohort, with cohort candidates",
         [r("c1-med", "c1", 0, cpu=4), r("c2-low-1", "c2", -1, cpu=5), r("c2-low-2", "c2", -1, cpu=1),
          r("c2-low-3", "c2", -1, cpu=1)], r("in", "c1", 1, cpu=2, memory="5Gi"), {"c1-med": CQ}),
    Case("preempting locally and not borrowing same resource in 1-queue cohort",
         [r("l1-med", "l1", 0, cpu=4), r("l1-low", "l1", -1, cpu=2)], r("in", "l1", 1, cpu=4), {"l1-med": CQ}),
    Case("do not reclaim borrowed quota from same priority for withinCohort=ReclaimFromLowerPriority",
         [r("c1", "c1", cpu=2), r("c2-1", "c2", cpu=4), r("c2-2", "c2", cpu=4)], r("in", "c1", cpu=4), {}),
    Case("reclaim borrowed quota from same priority for withinCohort=ReclaimFromAny",
         [r("c1-1", "c1", cpu=4), r("c1-2", "c1", 1, cpu=4), r("c2", "c2", cpu=2)], r("in", "c2", cpu=4),
         {"c1-1": RC}),
    Case("preempt from all ClusterQueues in cohort",
         [r("c1-low", "c1", -1, cpu=3), r("c1-mid", "c1", cpu=2), r("c2-low", "c2", -1, cpu=3),
          r("c2-mid", "c2", cpu=4)], r("in", "c1", cpu=4), {"c1-low": CQ, "c2-low": RC}),
    # Adapted: c1 fills its nominal quota so the incoming cannot simply borrow (upstream forces Preempt).
    Case("can't preempt workloads in ClusterQueue for withinClusterQueue=Never",
         [r("c2-low", "c2", -1, cpu=3), r("c1-full", "c1", 1, cpu=6)], r("in", "c2", 1, cpu=4), {}),
    Case("preempt newer workloads with the same priority",
         [r("wl1", "preventStarvation", 2, cpu=2), r("wl2", "preventStarvation", 1, cpu=2),
          r("wl3", "preventStarvation", 1, cpu=2)], r("in", "preventStarvation", 1, created=-15, cpu=2),
         {"wl2": CQ}, reserved_at={"wl2": 1.0}),
    Case("use BorrowWithinCohort; allow preempting a lower-priority workload from another ClusterQueue while borrowing",
         [r("a_best_effort_low", "a_best_effort", -1, cpu=10), r("b_best_effort_low", "b_best_effort", -1, cpu=1)],
         r("in", "a_standard", cpu=10), {"a_best_effort_low": RWB}),
    Case("use BorrowWithinCohort; don't allow preempting a lower-priority workload with priority above "
         "MaxPriorityThreshold, if borrowing is required even after the preemption",
         [r("b_standard", "b_standard", 1, cpu=10)], r("in", "a_standard", 2, cpu=10), {}),
    Case("use BorrowWithinCohort; allow preempting a lower-priority workload with priority above "
         "MaxPriorityThreshold, if borrowing is not required after the preemption",
         [r("b_standard", "b_standard", 1, cpu=13)], r("in", "a_standard", 2, cpu=1), {"b_standard": RC}),
    Case("use BorrowWithinCohort; don't allow for preemption of lower-priority workload from the same ClusterQueue",
         [r("a_standard", "a_standard", 1, cpu=13)], r("in", "a_standard", 2, cpu=1), {}),
    Case("use BorrowWithinCohort; only preempt from CQ if no workloads below threshold and already above nominal",
         [r("a_standard_1", "a_standard", 1, cpu=10), r("a_standard_2", "a_standard", 1, cpu=1),
          r("b_standard_1", "b_standard", 1, cpu=1), r("b_standard_2", "b_standard", 2, cpu=1)],
         r("in", "b_standard", 3, cpu=1), {"b_standard_1": CQ}),
    Case("use BorrowWithinCohort; preempt from CQ and from other CQs with workloads below threshold",
         [r("b_standard_high", "b_standard", 2, cpu=10), r("b_standard_mid", "b_standard", 1, cpu=1),
          r("a_best_effort_low", "a_best_effort", -1, cpu=1), r("a_best_effort_lower", "a_best_effort", -2, cpu=1)],
         r("in", "b_standard", 2, cpu=2), {"b_standard_mid": CQ, "a_best_effort_lower": RWB}),
    Case("reclaim quota from lender", [r("lend1-low", "lend1", -1, cpu=3), r("lend2-mid", "lend2", cpu=3),
                                       r("lend2-high", "lend2", 1, cpu=4)], r("in", "lend1", 1, cpu=3),
         {"lend2-mid": RC}),
    Case("preempt from all ClusterQueues in cohort-lend",
         [r("lend1-low", "lend1", -1, cpu=3), r("lend1-mid", "lend1", cpu=2), r("lend2-low", "lend2", -1, cpu=3),
          r("lend2-mid", "lend2", cpu=4)], r("in", "lend1", cpu=4), {"lend1-low": CQ, "lend2-low": RC}),
    Case("cannot preempt from other ClusterQueues if exceeds requestable quota including lending limit",
         [r("lend2-low", "lend2", -1, cpu=10)], r("in", "lend1", cpu=9), {}),
    Case("preemptions from cq when target queue is exhausted for the single requested resource",
         [r("a1", "a", -2, cpu=1), r("a2", "a", -2, cpu=1), r("a3", "a", -1, cpu=1), r("b1", "b", cpu=1),
          r("b2", "b", cpu=1), r("b3", "b", cpu=1)], r("in", "a", cpu=2), {"a1": CQ, "a2": CQ}),
    Case("preemptions from cq when target queue is exhausted for two requested resources",
         [r("a1", "a", -2, cpu=1, memory=1), r("a2", "a", -2, cpu=1, memory=1), r("a3", "a", -1, cpu=1, memory=1),
          r("b1", "b", cpu=1, memory=1), r("b2", "b", cpu=1, memory=1), r("b3", "b", cpu=1, memory=1)],
         r("in", "a", cpu=2, memory=2), {"a1": CQ, "a2": CQ}),
    Case("preemptions from cq when target queue is exhausted for one requested resource, but not the other",
         [r("a1", "a", -2, cpu=1), r("a2", "a", -2, cpu=1), r("a3", "a", -1, cpu=1), r("b1", "b", cpu=1),
          r("b2", "b", cpu=1), r("b3", "b", cpu=1)], r("in", "a", cpu=2, memory=2), {"a1": CQ, "a2": CQ}),
    Case("allow preemption from other cluster queues if target cq is not exhausted for the requested resource",
         [r("a1", "a", -1, cpu=1), r("b1", "b", cpu=1), r("b2", "b", cpu=1), r("b3", "b", cpu=1),
          r("b4", "b", cpu=1), r("b5", "b", -1, cpu=1)], r("in", "a", cpu=2), {"a1": CQ, "b5": RC}),
    Case("long range preemption", [r("to-be-preempted", "cq-right", cpu=5)], r("incoming", "cq-left", cpu=8),
         {"to-be-preempted": RC},
         queues=(cq("cq-left", "cohort-left", reclaim="Any", flavors=[("default", {"cpu": 10})]),
                 cq("cq-right", "cohort-right", flavors=[("default", {"cpu": 0})])),
         cohorts=(cohort("cohort-left", "root"), cohort("cohort-right", "root"))),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_preemption(case: Case):
    """Source: pkg/scheduler/preemption/preemption_test.go::TestPreemption/<case id>."""
    d = Driver(case.queues or default_queues(), case.cohorts)
    for workload, queue, *flavor in case.running:
        d.running(workload, queue, *flavor, at=case.reserved_at.get(workload.id, 0.0))
    incoming, queue = case.incoming
    d.submit(incoming, queue)
    first = d.cycle()
    assert (targets(first), admitted(first)) == (case.want, [])
    d.settle()
    reserved = d.reserved()
    if case.want:
        assert incoming.id in reserved and not set(case.want) & set(reserved), reserved
    else:
        assert incoming.id not in reserved and {w.id for w, *_ in case.running} <= set(reserved)
