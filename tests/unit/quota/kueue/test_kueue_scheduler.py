"""Kueue's scheduler cases (whole cycles: ordering, borrowing in one cycle, partial admission,
holding capacity), as table tests through the public API.

Sources, cited per test:
- pkg/scheduler/scheduler_test.go (TestSchedule, TestEntryOrdering);
- test/integration/singlecluster/scheduler/scheduler_test.go (ginkgo cases).
"""

from __future__ import annotations

import pytest
from kueue_driver import Driver, admitted, cohort, cq, targets, wl

from libs.quota import PodSet, Reason, Timing, Why, Workload, parse_quantity
from libs.quota.builders import ALIASES

LP = "LowerPriority"
SCHEDULER = "pkg/scheduler/scheduler_test.go::TestSchedule"
INTEGRATION = "test/integration/singlecluster/scheduler/scheduler_test.go"


def spec(name, *pod_sets, p=0) -> Workload:
    """(pod set name, count, min_count, {resource: per-pod amount})."""
    return Workload(name, "default", "", tuple(
        PodSet(n, count, {ALIASES.get(r, r): parse_quantity(ALIASES.get(r, r), v) for r, v in req.items()}, min_count)
        for n, count, min_count, req in pod_sets), priority=p)


def test_use_second_flavor_when_the_first_has_no_preemption_candidates():
    """TestSchedule/use second flavor when the first has no preemption candidates; WhenCanPreempt: Preempt."""
    d = Driver((cq("other-alpha", within=LP, fungibility=("MayStopSearch", "MayStopSearch"),
                   flavors=[("on-demand", {"cpu": 50}), ("spot", {"cpu": 100})]),))
    d.running(wl("admitted", cpu=50), "other-alpha", "on-demand")
    d.submit(wl("new", cpu=20), "other-alpha")
    first = d.cycle()
    assert (admitted(first), targets(first), d.flavors_of("new")) == (["new"], {}, {"cpu": "spot"})


@pytest.mark.parametrize(("pod_sets", "want_counts"), [
    pytest.param([("one", 50, 20, {"cpu": 2})], [25], id="TestSchedule/partial admission single variable pod set"),
    pytest.param([("one", 20, None, {"cpu": 1}), ("two", 30, 10, {"cpu": 1}), ("three", 15, 5, {"cpu": 1})],
                 [20, 20, 10], id="TestSchedule/partial admission multiple variable pod sets"),
])
def test_partial_admission(pod_sets, want_counts):
    """Source: pkg/scheduler/scheduler_test.go::TestSchedule/<case id> (queue "sales": 50 CPUs)."""
    d = Driver((cq("sales", strategy="StrictFIFO", flavors=[("default", {"cpu": 50})]),))
    d.submit(spec("new", *pod_sets), "sales")
    first = d.cycle()
    assert admitted(first) == ["new"] and d.counts_of("new") == want_counts


def eng_beta():
    return (cq("eng-beta", "eng", within=LP, reclaim="Any", strategy="StrictFIFO",
               flavors=[("on-demand", {"cpu": (50, 10)}), ("spot", {"cpu": (0, 100)}), ("model-a", {"gpu": (20, 0)})]),
            cq("eng-alpha", "eng", strategy="StrictFIFO", flavors=[("on-demand", {"cpu": (50, 50)}),
                                                                  ("spot", {"cpu": (100, 0)})]))


@pytest.mark.parametrize(("count", "final"), [
    pytest.param(20, [20], id="TestSchedule/partial admission single variable pod set, preempt first"),
    pytest.param(30, [20], id="TestSchedule/partial admission single variable pod set, preempt with partial admission"),
])
def test_partial_admission_preempts(count, final):
    """Source: pkg/scheduler/scheduler_test.go::TestSchedule/<case id>: the full count (or, when it can
    never fit, the largest reduced count) preempts "old"; after it left, the reserved count is ``final``."""
    d = Driver(eng_beta())
    d.running(spec("old", ("one", 10, None, {"gpu": 1}), p=-4), "eng-beta")
    d.submit(spec("new", ("one", count, 10, {"gpu": 1}), p=4), "eng-beta")
    first = d.cycle()
    assert (targets(first), admitted(first)) == ({"old": "InClusterQueue"}, [])
    d.settle()
    assert d.counts_of("new") == final and "old" not in d.reserved()


def same_cycle_borrowers():
    policy = dict(within=LP, reclaim="Any", flavors=[("default", {"r1": (10, 10), "r2": (10, 10)})])
    return tuple(cq(n, "co", **policy) for n in ("cq1", "cq2", "cq3"))


@pytest.mark.parametrize(("r2_request", "want"), [
    pytest.param({"r2": 16}, ["wl1", "wl2"],
                 id="TestSchedule/two workloads can borrow different resources from the same flavor in the same cycle"),
    pytest.param({"r1": 14}, ["wl1", "wl2"], id="TestSchedule/two workloads can borrow the same resources from the "
                                                "same flavor in the same cycle if fits in the cohort quota"),
    pytest.param({"r1": 16}, ["wl1"], id="TestSchedule/only one workload can borrow one resources from the same "
                                         "flavor in the same cycle if cohort quota cannot fit"),
])
def test_borrowing_in_one_cycle(r2_request, want):
    """Source: pkg/scheduler/scheduler_test.go::TestSchedule/<case id>."""
    d = Driver(same_cycle_borrowers())
    d.submit(wl("wl1", p=-1, r1=16), "cq1").submit(wl("wl2", p=-2, **r2_request), "cq2")
    first = d.cycle()
    assert admitted(first) == want
    if want == ["wl1"]:
        assert d.reason("wl2").value == "SkippedInCycle"


def test_waiting_for_preemption_does_not_block_a_borrower_in_another_queue():
    """TestSchedule/preemption while borrowing, workload waiting for preemption should not block a borrowing
    workload in another CQ: the blocked head holds only what its borrowing limit still allows (1 of 3)."""
    bwc = dict(reclaim=LP, borrow=LP)
    d = Driver((cq("cq_shared", "preemption-while-borrowing", flavors=[("default", {"cpu": (4, 0)})]),
                cq("cq_a", "preemption-while-borrowing", **bwc, flavors=[("default", {"cpu": (0, 3)})]),
                cq("cq_b", "preemption-while-borrowing", **bwc, flavors=[("default", {"cpu": 0})])))
    d.running(wl("admitted_a", cpu=2), "cq_a")
    d.submit(wl("a", created=1, cpu=3), "cq_a").submit(wl("b", created=2, cpu=1), "cq_b")
    first = d.cycle()
    assert (admitted(first), targets(first), d.reason("a").value) == (["b"], {}, "QuotaExhausted")


@pytest.mark.parametrize(("timestamp", "want"), [
    pytest.param("Eviction", ["new_high_pri", "old", "recently_evicted", "new", "high_pri_borrowing", "old_borrowing",
                              "evicted_borrowing", "new_borrowing"],
                 id="TestEntryOrdering/Priority sorting is enabled (default) using pods-ready Eviction timestamp "
                    "(default)"),
    pytest.param("Creation", ["new_high_pri", "recently_evicted", "old", "new", "high_pri_borrowing", "old_borrowing",
                              "evicted_borrowing", "new_borrowing"],
                 id="TestEntryOrdering/Priority sorting is enabled (default) using pods-ready Creation timestamp"),
])
def test_entry_ordering(timestamp, want):
    """pkg/scheduler/scheduler_test.go::TestEntryOrdering/<case id>: workloads within their quota first, then
    priority, then age, where a workload evicted by PodsReadyTimeout counts from its eviction (timestamp:
    Eviction) or its creation. Each workload has its own queue; the borrowing ones have no quota of their own."""
    borrowing = {"high_pri_borrowing", "old_borrowing", "new_borrowing", "evicted_borrowing"}
    created = {"old_borrowing": -1, "recently_evicted": 0, "evicted_borrowing": 0, "old": 1, "new": 3,
               "high_pri_borrowing": 3, "new_high_pri": 3, "new_borrowing": 3}
    prio = {"high_pri_borrowing": 1, "new_high_pri": 1}
    queues = [cq(n, "all", flavors=[("default", {"cpu": 0 if n in borrowing else 1})]) for n in created]
    timing = Timing(backoff_base_seconds=10**9, backoff_max_seconds=10**9,
                    order_by_eviction=timestamp == "Eviction")
    d = Driver((*queues, cq("bank", "all", flavors=[("default", {"cpu": 10})])), config_kw={"timing": timing})
    for n in ("recently_evicted", "evicted_borrowing"):  # reserved, then evicted by PodsReadyTimeout at t=2
        d.running(wl(n, created=created[n], cpu=1), n)
        d.engine.evict(n, Why(Reason.PODS_READY_TIMEOUT, "pods not ready"), 2.0)
        d.engine.requeue(n, d.now)
    for n in created.keys() - {"recently_evicted", "evicted_borrowing"}:
        d.submit(wl(n, p=prio.get(n, 0), created=created[n], cpu=1), n)
    assert admitted(d.cycle()) == want


def test_borrowing_from_a_closer_cohort_goes_first():
    """pkg/scheduler/scheduler.go entryOrdering ("Request under nominal quota", by the assignment's borrowing
    level) with hierarchical cohorts: a workload served by its own team cohort goes before a higher-priority
    one that must reach the org cohort, and only one of them fits."""
    d = Driver((cq("near", "team-a", flavors=[("default", {"cpu": 0})]),
                cq("far", "team-b", flavors=[("default", {"cpu": 0})])),
               (cohort("org"), cohort("team-a", "org", flavors=[("default", {"cpu": 2})]), cohort("team-b", "org")))
    d.submit(wl("near-low", p=0, cpu=2), "near").submit(wl("far-high", p=9, cpu=2), "far")
    first = d.cycle()
    assert admitted(first) == ["near-low"]


def eng_fair(*extra):
    return (cq("eng-alpha", "eng", strategy="StrictFIFO", flavors=[("on-demand", {"cpu": (50, 50)}),
                                                                  ("spot", {"cpu": (100, 0)})]),
            cq("eng-beta", "eng", within=LP, reclaim="Any", strategy="StrictFIFO",
               flavors=[("on-demand", {"cpu": (50, 10)}), ("spot", {"cpu": (0, 100)})]), *extra)


def test_fair_sharing_lowest_share_first():
    """TestSchedule/with fair sharing: schedule workload with lowest share first: eng-alpha's newcomer
    (share after admission lower) goes before eng-beta's older one, which then no longer fits."""
    d = Driver(eng_fair(cq("eng-shared", "eng", flavors=[("on-demand", {"cpu": (10, 0)})])), fair=True)
    d.running(wl("all_nominal", count=50, cpu=1), "eng-alpha", "on-demand")
    d.running(wl("borrowing", count=55, cpu=1), "eng-beta", "on-demand")
    d.submit(wl("older_new", created=-60, cpu=1), "eng-beta").submit(wl("new", created=0, count=5, cpu=1), "eng-alpha")
    first = d.cycle()
    assert admitted(first) == ["new"] and d.flavors_of("new") == {"cpu": "on-demand"}
    assert d.reason("older_new").value == "SkippedInCycle"


def test_fair_sharing_nominal_first():
    """TestSchedule/with fair sharing: nominal-first ordering admits workload fitting within nominal despite
    higher CQ DRS (fs-nom-a borrows spot heavily, but its newcomer fits in its on-demand nominal quota)."""
    d = Driver((cq("fs-nom-a", "fs-nom", flavors=[("on-demand", {"cpu": (50, 0)}), ("spot", {"cpu": (50, 50)})]),
                cq("fs-nom-b", "fs-nom", flavors=[("on-demand", {"cpu": (10, 50)}), ("spot", {"cpu": (50, 0)})])),
               fair=True)
    d.running(wl("spot-heavy", count=80, cpu=1), "fs-nom-a", "spot")
    d.running(wl("light-usage", count=5, cpu=1), "fs-nom-b", "on-demand")
    d.submit(wl("borrow-wl", created=-60, count=15, cpu=1), "fs-nom-b")
    d.submit(wl("nom-wl", created=0, count=45, cpu=1), "fs-nom-a")
    first = d.cycle()
    assert admitted(first) == ["nom-wl"] and d.flavors_of("nom-wl") == {"cpu": "on-demand"}
    assert d.reason("borrow-wl").value == "SkippedInCycle"


def test_fair_sharing_hierarchical_nominal_first():
    """TestSchedule/with fair sharing: hierarchical nominal-first prefers non-borrowing subtree: at the root,
    Cohort-A would stay within its quota (5/10) while Cohort-B borrows (15/5)."""
    d = Driver((cq("cq-a", "Cohort-A", flavors=[("on-demand", {"cpu": 0})]),
                cq("cq-b", "Cohort-B", flavors=[("on-demand", {"cpu": 5})]),
                cq("cq-c", "Cohort-B", flavors=[("on-demand", {"cpu": 0})])),
               (cohort("root"), cohort("Cohort-A", "root", flavors=[("on-demand", {"cpu": 10})]),
                cohort("Cohort-B", "root")), fair=True)
    d.running(wl("c0", cpu=10), "cq-c")
    d.submit(wl("wl-a", cpu=5), "cq-a").submit(wl("wl-b", cpu=5), "cq-b")
    first = d.cycle()
    assert admitted(first) == ["wl-a"] and d.reason("wl-b").value == "SkippedInCycle"


def other_alpha_beta(beta_preempts: bool):
    policy = dict(within=LP, reclaim=LP)
    return (cq("other-alpha", "other", **policy, flavors=[("on-demand", {"gpu": 10}), ("spot", {"gpu": 10})]),
            cq("other-beta", "other", **(policy if beta_preempts else {}),
               flavors=[("on-demand", {"gpu": 0}), ("spot", {"gpu": 0})]))


@pytest.mark.parametrize(("beta_preempts", "running", "request_", "victim"), [
    pytest.param(True, [("a1", 50, 5, "other-alpha", "on-demand"), ("b1", 50, 5, "other-beta", "spot")], 6,
                 {"b1": "InCohortReclamation"},
                 id="TestSchedule/prefer reclamation over cq priority based preemption"),
    pytest.param(False, [("a1", 50, 5, "other-alpha", "on-demand"), ("a2", 50, 5, "other-alpha", "spot"),
                         ("b1", 50, 5, "other-beta", "spot")], 6, {"a1": "InClusterQueue"},
                 id="TestSchedule/prefer first preemption flavor when second flavor requires both reclaim and cq "
                    "priority preemption"),
    pytest.param(False, [("a1", 50, 6, "other-alpha", "on-demand"), ("a2", 50, 5, "other-alpha", "spot"),
                         ("b1", 9001, 5, "other-beta", "spot")], 5, {"a1": "InClusterQueue"},
                 id="TestSchedule/prefer first preemption flavor when second flavor also requires cq preemption"),
])
def test_flavor_choice_between_preemptions(beta_preempts, running, request_, victim):
    """Source: pkg/scheduler/scheduler_test.go::TestSchedule/<case id>: reclaiming beats preempting in the
    queue; between two flavors that both preempt in the queue, the first wins."""
    d = Driver(other_alpha_beta(beta_preempts))
    for name, p, gpus, queue, flavor in running:
        d.running(wl(name, p=p, gpu=gpus), queue, flavor)
    d.submit(wl("preemptor", p=100, gpu=request_), "other-alpha")
    first = d.cycle()
    assert (targets(first), admitted(first)) == (victim, [])
