"""Kueue's fair-sharing preemption cases, as table tests through the public API.

Source: kubernetes-sigs/kueue pkg/scheduler/preemption/preemption_fair_test.go, TestFairPreemptions
(earlier in preemption_test.go). Each case id is the upstream case name.

Victims taken while the preemptor stays within its nominal quota of the contested resource are
labelled InCohortReclamation, as Kueue does with FairSharingPreemptWithinNominal (Beta, on by
default since v0.17; pkg/scheduler/preemption/preemption_plan_test.go "preemptor within nominal
reclaims every candidate"). The upstream table predates that gate and says InCohortFairSharing
for those cases; they are marked ``within`` below.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from kueue_driver import Driver, admitted, cohort, cq, targets, wl

SOURCE = "pkg/scheduler/preemption/preemption_fair_test.go::TestFairPreemptions"
CQ, RC, FS = "InClusterQueue", "InCohortReclamation", "InCohortFairSharing"
LP, ANY = "LowerPriority", "Any"


def base(**weights):
    bwc = dict(within=LP, reclaim=ANY, borrow=LP, threshold=-3)
    return (*(cq(n, "all", **bwc, weight=weights.get(n, 1.0), flavors=[("default", {"cpu": 3})]) for n in "abc"),
            cq("preemptible", "all", flavors=[("default", {"cpu": 0})]))


def plain(*names, **weights):
    """Queues a, b, c without borrowWithinCohort (the weight cases)."""
    return tuple(cq(n, "all", within=LP, reclaim=ANY, weight=weights.get(n, 1.0), flavors=[("default", {"cpu": 3})])
                 for n in names)


def units(queue, *names, p=0):
    return [(n, queue, p, 1) for n in names]


@dataclass(frozen=True)
class Case:
    name: str
    running: list  # (name, queue, priority, cpu)
    incoming: tuple  # (queue, cpu[, priority])
    want: dict
    queues: tuple | None = None
    cohorts: tuple = ()
    strategies: tuple = ()


A3, B5 = units("a", "a1", "a2", "a3"), units("b", "b1", "b2", "b3", "b4", "b5")
HIER = (cohort("ROOT", flavors=[("default", {"cpu": 5})]),
        cohort("LEFT", "ROOT", weight=2, flavors=[("default", {"cpu": 5})]),
        cohort("RIGHT", "ROOT", flavors=[("default", {"cpu": 5})]))
HIER_QUEUES = (cq("a", "LEFT", reclaim=ANY, weight=2, flavors=[("default", {"cpu": 1})]),
               *(cq(n, c, flavors=[("default", {"cpu": 1})])
                 for n, c in (("b", "LEFT"), ("c", "ROOT"), ("d", "RIGHT"))),
               cq("e", "RIGHT", weight=0.99, flavors=[("default", {"cpu": 1})]))
DEEP = (cohort("ROOT"), cohort("A", "ROOT", weight=1.01), cohort("AA", "A"), cohort("AAA", "AA"),
        cohort("B", "ROOT", weight=0.99), cohort("BB", "B"), cohort("BBB", "BB"), cohort("C", "ROOT"),
        cohort("CC", "C"), cohort("CCC", "CC"), cohort("CCCC", "CCC", flavors=[("default", {"cpu": 1})]))

CASES = [
    Case("reclaim nominal from user using the most", A3 + B5 + units("c", "c1"), ("c", 1), {"b1": RC}),  # within
    Case("can reclaim from queue using less, if taking the latest workload from user using the most isn't enough",
         [("a1", "a", 0, 3), ("a2", "a", 0, 1), ("b1", "b", 0, 2), ("b2", "b", 0, 3)], ("c", 3), {"a1": RC}),  # within
    Case("reclaim borrowable quota from user using the most", A3 + B5 + units("c", "c1"), ("a", 1), {"b1": FS}),
    Case("preempt one from each CQ borrowing",
         [("a1", "a", 0, 0.5), ("a2", "a", 0, 0.5), ("a3", "a", 0, 3), ("b1", "b", 0, 0.5), ("b2", "b", 0, 0.5),
          ("b3", "b", 0, 3)], ("c", 2), {"a1": RC, "b1": RC}),  # within
    Case("can't preempt when everyone under nominal", A3 + units("b", "b1", "b2", "b3") + units("c", "c1", "c2", "c3"),
         ("c", 1), {}),
    Case("can't preempt when it would switch the imbalance", A3 + B5, ("a", 2), {}),
    Case("can preempt lower priority workloads from same CQ",
         units("a", "a1_low", "a2_low", p=-1) + units("a", "a3", "a4") + B5, ("a", 2), {"a1_low": CQ, "a2_low": CQ}),
    Case("can preempt a combination of same CQ and highest user",
         units("a", "a_low", p=-1) + units("a", "a2", "a3") + B5 + units("b", "b6"), ("a", 2),
         {"a_low": CQ, "b1": FS}),
    Case("preempt huge workload if there is no other option, as long as the target CQ gets a lower share",
         [("b1", "b", 0, 9)], ("a", 2), {"b1": RC}),  # within
    Case("can't preempt huge workload if the incoming is also huge", [("a1", "a", 0, 2), ("b1", "b", 0, 7)],
         ("a", 5), {}),
    Case("can't preempt 2 smaller workloads if the incoming is huge",
         [("b1", "b", 0, 2), ("b2", "b", 0, 2), ("b3", "b", 0, 3)], ("a", 6), {}),
    Case("preempt from target and others even if over nominal",
         [("a1_low", "a", -1, 2), ("a2_low", "a", -1, 1), ("b1", "b", 0, 3), ("b2", "b", 0, 3)], ("a", 4),
         {"a1_low": CQ, "b1": FS}),
    Case("prefer to preempt workloads that don't make the target CQ have the biggest share",
         [("b1", "b", 0, 2), ("b2", "b", 0, 1), ("b3", "b", 0, 2), ("c1", "c", 0, 1)], ("a", 3.5), {"b2": FS}),
    Case("preempt from different cluster queues if the end result has a smaller max share",
         [("b1", "b", 0, 2), ("b2", "b", 0, 2.5), ("c1", "c", 0, 2), ("c2", "c", 0, 2.5)], ("a", 3.5),
         {"b1": FS, "c1": FS}),
    Case("scenario above does not flap", [("a1", "a", 0, 3.5), ("b2", "b", 0, 2.5), ("c2", "c", 0, 2.5)], ("b", 2), {}),
    Case("cannot preempt if it would make the candidate CQ go under nominal after preempting one element",
         [("b1", "b", 0, 3), ("b2", "b", 0, 3), ("c1", "c", 0, 3)], ("a", 4), {}),
    Case("workloads under priority threshold not capriciously preempted",
         A3 + units("b", "b1", "b2", "b3") + units("preemptible", "preemptible1", "preemptible2", "preemptible3", p=-3),
         ("a", 2), {}),
    Case("preempt lower priority first, even if big", [("a1", "a", 0, 3), ("b_low", "b", 0, 5), ("b_high", "b", 1, 1)],
         ("a", 1), {"b_low": FS}, strategies=("LessThanInitialShare",)),
    Case("preempt workload that doesn't transfer the imbalance, even if high priority",
         [("a1", "a", 0, 3), ("b_low", "b", 0, 5), ("b_high", "b", 1, 1)], ("a", 1), {"b_high": FS},
         strategies=("LessThanOrEqualToFinalShare",)),
    Case("CQ with higher weight can preempt more", A3 + B5 + units("b", "b6"), ("a", 2), {"b1": FS, "b2": FS},
         queues=plain("a", "b", "c", a=2.0)),
    Case("can preempt anything borrowing from CQ with 0 weight", A3 + B5 + units("b", "b6"), ("a", 3),
         {"b1": FS, "b2": FS, "b3": FS}, queues=plain("a", "b", "c", b=0.0)),
    Case("can't preempt nominal from CQ with 0 weight", A3 + units("b", "b1", "b2", "b3"), ("a", 1), {},
         queues=plain("a", "b", b=0.0)),
    Case("can't preempt nominal from Cohort with 0 weight", [("right-1", "right-cq", 0, 1)], ("left-cq", 1), {},
         queues=(cq("left-cq", "root", reclaim=ANY, flavors=[("default", {"cpu": 0})]),
                 cq("right-cq", "right-cohort", reclaim=ANY, weight=0.0, flavors=[("default", {"cpu": 0})])),
         cohorts=(cohort("right-cohort", "root", weight=0.0, flavors=[("default", {"cpu": 1})]),)),
    Case("can preempt within cluster queue when no cohort", [("a1", "a", 0, 1)], ("a", 1, 1000), {"a1": CQ},
         queues=(cq("a", within=LP, flavors=[("default", {"cpu": 1})]),)),
    Case("hierarchical preemption",
         [(f"{q}{i}", q, i, 1) for q in "bcde" for i in range(1, 6)], ("a", 5),
         {"b1": FS, "b2": FS, "c1": FS, "c2": FS, "e1": FS}, queues=HIER_QUEUES, cohorts=HIER),
    Case("borrowing cq in non-borrowing cohort is protected",
         units("a", "a1", "a2", "a3", p=-1) + units("b", "b1", p=-1), ("a", 5), {"a1": CQ, "a2": CQ, "a3": CQ},
         queues=(cq("a", "ROOT", within=LP, reclaim=ANY, weight=10, flavors=[("default", {"cpu": 5})]),
                 cq("b", "RIGHT", weight=0.1, flavors=[("default", {"cpu": 0})])),
         cohorts=(cohort("ROOT"), cohort("RIGHT", "ROOT", weight=0.1, flavors=[("default", {"cpu": 1})]))),
    Case("forced to preempt within clusterqueue because borrowing workload too important",
         units("a", "a1", "a2", "a3", p=-1) + [("b1", "b", 100, 4)], ("a", 4), {"a1": CQ, "a2": CQ, "a3": CQ},
         queues=(cq("a", "ROOT", within=LP, reclaim=LP, weight=10, flavors=[("default", {"cpu": 5})]),
                 cq("b", "RIGHT", weight=0.1, flavors=[("default", {"cpu": 0})])),
         cohorts=(cohort("ROOT"), cohort("RIGHT", "ROOT", weight=0.1, flavors=[("default", {"cpu": 3})]))),
    Case("deep preemption", units("b", "b1"), ("a", 1), {"b1": FS},
         queues=(cq("a", "AAA", reclaim=ANY, flavors=[("default", {"cpu": 0})]),
                 cq("b", "BBB", flavors=[("default", {"cpu": 0})])), cohorts=DEEP),
    Case("cq with zero weight can reclaim nominal quota", units("b", "b1"), ("a", 1), {"b1": RC},  # within
         queues=(cq("a", "ROOT", reclaim=ANY, weight=0.0, flavors=[("default", {"cpu": 1})]),
                 cq("b", "ROOT", flavors=[("default", {"cpu": 0})]))),
    Case("cohort with zero weight can reclaim nominal quota", units("b", "b1"), ("a", 1), {"b1": FS},
         queues=(cq("a", "A", reclaim=ANY, weight=0.0, flavors=[("default", {"cpu": 0})]),
                 cq("b", "ROOT", flavors=[("default", {"cpu": 0})])),
         cohorts=(cohort("A", "ROOT", weight=0.0, flavors=[("default", {"cpu": 1})]),)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fair_preemption(case: Case):
    """Source: pkg/scheduler/preemption/preemption_fair_test.go::TestFairPreemptions/<case id>."""
    d = Driver(case.queues or base(), case.cohorts, fair=True, strategies=case.strategies)
    for name, queue, priority, cpu in case.running:
        d.running(wl(name, p=priority, cpu=cpu), queue)
    queue, cpu, *priority = case.incoming
    d.submit(wl("incoming", p=priority[0] if priority else 0, cpu=cpu), queue)
    first = d.cycle()
    assert (targets(first), admitted(first)) == (case.want, [])
    d.settle()
    reserved = d.reserved()
    if case.want:
        assert "incoming" in reserved and not set(case.want) & set(reserved), reserved
    else:
        assert "incoming" not in reserved
