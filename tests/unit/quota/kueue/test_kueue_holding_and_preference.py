"""Holding capacity for a blocked head, flavorFungibility.preference, and the order in which
preemption candidates are tried, through the quota core's public API.

Sources: pkg/scheduler/scheduler.go (CanAlwaysReclaim, resourcesToReserve) for holding;
kubernetes-sigs/kueue issue #9462 (fixed by #9464) for the preference; and
pkg/scheduler/preemption/preemption_test.go::TestCandidatesOrdering for the candidate order.
"""

from __future__ import annotations

import pytest
from kueue_driver import Driver, admitted, cq, targets, wl

LP = "LowerPriority"


def blocked_head(reclaim: str) -> Driver:
    """cq-a (4 CPUs) runs a p10 workload on 3; its p0 head needs 2 and has no victim; cq-b borrows."""
    d = Driver((cq("cq-a", "co", within=LP, reclaim=reclaim, flavors=[("default", {"cpu": 4})]),
                cq("cq-b", "co", flavors=[("default", {"cpu": 0})])))
    d.running(wl("a-run", p=10, cpu=3), "cq-a")
    d.submit(wl("a-next", p=0, cpu=2), "cq-a").submit(wl("b-low", p=-5, cpu=1), "cq-b")
    return d


@pytest.mark.parametrize("reclaim", ["Never", LP])
def test_blocked_head_holds_what_it_could_use(reclaim):
    """scheduler.go: a head that needs preemption but has no victim holds its quota up to the borrowing
    limit when its queue cannot always reclaim, so a borrower elsewhere cannot take it first."""
    d = blocked_head(reclaim)
    first = d.cycle()
    assert (admitted(first), targets(first)) == ([], {})
    assert (d.reason("a-next").value, d.reason("b-low").value) == ("QuotaExhausted", "SkippedInCycle")


def test_queue_that_can_always_reclaim_does_not_hold():
    """scheduler.go CanAlwaysReclaim (reclaimWithinCohort: Any): nothing is held, the borrower is
    admitted, and the head can take the quota back later."""
    d = blocked_head("Any")
    assert admitted(d.cycle()) == ["b-low"]
    d.finish("a-run")
    first = d.cycle()
    assert (admitted(first), targets(first)) == (["a-next"], {})


def preference_world(preference: str | None) -> Driver:
    """Issue #9462: three queues, two flavors, 1 CPU workloads; CQ-1 and CQ-2 own f1, CQ-3 owns f2."""
    fungibility = ("TryNextFlavor", "TryNextFlavor", preference) if preference else ("TryNextFlavor",) * 2
    policy = dict(reclaim="Any", fungibility=fungibility)
    return Driver((cq("cq-1", "co", **policy, flavors=[("f1", {"cpu": (1, 4)}), ("f2", {"cpu": (0, 4)})]),
                   cq("cq-2", "co", **policy, flavors=[("f1", {"cpu": (1, 4)}), ("f2", {"cpu": (0, 4)})]),
                   cq("cq-3", "co", **policy, flavors=[("f1", {"cpu": (0, 4)}), ("f2", {"cpu": (2, 4)})])),
                  fair=True)


def fill_cq1(d: Driver) -> None:
    d.submit(wl("cq1-a", created=1, cpu=1), "cq-1").submit(wl("cq1-b", created=2, cpu=1), "cq-1")
    d.settle()
    assert (d.flavors_of("cq1-a"), d.flavors_of("cq1-b")) == ({"cpu": "f1"}, {"cpu": "f1"})


def test_preemption_over_borrowing():
    """Issue #9462 with PreemptionOverBorrowing: CQ-2 takes its f1 quota back from CQ-1 (reclaim at
    borrowing level 0) rather than borrowing f2; its second workload then borrows f2."""
    d = preference_world("PreemptionOverBorrowing")
    fill_cq1(d)
    d.submit(wl("cq2-a", created=3, cpu=1), "cq-2").submit(wl("cq2-b", created=4, cpu=1), "cq-2")
    first = d.cycle()
    assert (targets(first), admitted(first)) == ({"cq1-b": "InCohortReclamation"}, [])
    d.settle()
    assert (d.flavors_of("cq2-a"), d.flavors_of("cq2-b")) == ({"cpu": "f1"}, {"cpu": "f2"})


@pytest.mark.parametrize("preference", [None, "BorrowingOverPreemption"])
def test_borrowing_over_preemption(preference):
    """Issue #9462, the default (BorrowingOverPreemption): fitting by borrowing f2 beats reclaiming f1."""
    d = preference_world(preference)
    fill_cq1(d)
    d.submit(wl("cq2-a", created=3, cpu=1), "cq-2").submit(wl("cq2-b", created=4, cpu=1), "cq-2")
    d.settle()
    assert (d.flavors_of("cq2-a"), d.flavors_of("cq2-b")) == ({"cpu": "f2"}, {"cpu": "f2"})
    assert set(d.reserved()) == {"cq1-a", "cq1-b", "cq2-a", "cq2-b"}


ORDER = ["evicted", "other", "low", "current", "old-a", "old-b", "high"]


@pytest.mark.parametrize("round_", range(len(ORDER)))
def test_candidates_ordering(round_):
    """pkg/scheduler/preemption/preemption_test.go::TestCandidatesOrdering: evicting workloads first, then
    other queues', then lower priority, then the most recently reserved, then by id; each round removes
    the winner of the round before."""
    remaining = ORDER[round_:]
    in_current = [n for n in remaining if n != "other"]
    d = Driver((cq("current", "co", within=LP, reclaim="Any", flavors=[("default", {"cpu": len(remaining)})]),
                cq("other-cq", "co", flavors=[("default", {"cpu": 0})])))
    prio = {"evicted": 5, "low": -10, "high": 20}
    at = {"current": 50.0}
    for name in in_current:
        d.running(wl(name, p=prio.get(name, 10), cpu=1), "current", at=at.get(name, 10.0),
                  evicting=name == "evicted")
    if "other" in remaining:
        d.running(wl("other", p=10, cpu=1), "other-cq", at=10.0)
    d.submit(wl("preemptor", p=100, cpu=1), "current")
    named = list(targets(d.cycle()))
    if ORDER[round_] == "evicted":  # already leaving: waited for, not asked again
        assert (named, d.reason("preemptor").value) == ([], "WaitingForPreemption")
    else:
        assert named == [ORDER[round_]]


@pytest.mark.parametrize("fair", [False, True])
def test_overlapping_targets_are_skipped(fair):
    """Adapted from pkg/scheduler/scheduler_test.go::TestSchedule/multiple preemptions skip overlapping
    preemption targets (scheduler.go: "We skip multiple-preemptions per cohort if any of the targets are
    overlapping"): two queues reclaim from the same borrower; the first in order names it, the second is
    skipped for this cycle and, once the victim left, fits."""
    d = Driver((cq("cq-a", "co", reclaim="Any", flavors=[("default", {"cpu": 2})]),
                cq("cq-b", "co", reclaim="Any", flavors=[("default", {"cpu": 2})]),
                cq("cq-c", "co", flavors=[("default", {"cpu": 0})])), fair=fair)
    d.running(wl("v", cpu=4), "cq-c")
    d.submit(wl("pa", p=2, cpu=1), "cq-a").submit(wl("pb", p=1, cpu=1), "cq-b")
    first = d.cycle()
    assert targets(first) == {"v": "InCohortReclamation"} and d.reason("pb").value == "SkippedInCycle"
    d.settle()
    assert set(d.reserved()) == {"pa", "pb"}
