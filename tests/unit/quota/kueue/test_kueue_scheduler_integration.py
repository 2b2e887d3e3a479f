"""Kueue's scheduler integration cases (test/integration/singlecluster/scheduler/scheduler_test.go),
replayed cycle by cycle through the quota core's public API.

Upstream runs these against an API server and waits for conditions; here each step is a cycle
(or ``settle``), each "finish" releases quota, and each object update is a hot reload.
"""

from __future__ import annotations

from kueue_driver import Driver, admitted, cohort, cq, targets, wl

from libs.quota import ResourceFlavor, Taint
from libs.quota.builders import make_workload

SOURCE = "test/integration/singlecluster/scheduler/scheduler_test.go"
INSTANCE = "cloud.provider.com/instance"
FLAVORS = (ResourceFlavor("on-demand", {INSTANCE: "on-demand"}),
           ResourceFlavor("spot-tainted", {INSTANCE: "spot-tainted"},
                          node_taints=(Taint(INSTANCE, "spot-tainted", "NoSchedule"),)),
           ResourceFlavor("spot-untainted", {INSTANCE: "spot-untainted"}))


def run(queues, cohorts=()) -> Driver:
    return Driver(tuple(queues), tuple(cohorts), flavors=FLAVORS)


def test_borrowing_from_queues_in_the_same_cohort():
    """Source: scheduler_test.go::Should schedule workloads borrowing quota from ClusterQueues in the same Cohort."""
    d = run([cq("prod-cq", "all", flavors=[("on-demand", {"cpu": (5, 10)})]),
             cq("dev-cq", "all", flavors=[("on-demand", {"cpu": (5, 10)})])])
    d.submit(wl("wl-1", cpu=11), "prod-cq").submit(wl("wl-2", cpu=11), "dev-cq")
    assert admitted(d.cycle()) == []
    d.reconfigure([*d.engine.config.cluster_queues.values(),
                   cq("test-cq", "all", flavors=[("on-demand", {"cpu": (15, 0)})])])
    assert sorted(admitted(d.cycle())) == ["wl-1", "wl-2"]


def test_under_nominal_before_borrowing():
    """Source: scheduler_test.go::Should start workloads that are under min quota before borrowing."""
    d = run([cq("prod-cq", "all", strategy="StrictFIFO", flavors=[("on-demand", {"cpu": 2})]),
             cq("dev-cq", "all", strategy="StrictFIFO", flavors=[("on-demand", {"cpu": 0})])])
    d.running(wl("p-wl-1", cpu=2), "prod-cq")
    d.submit(wl("d-wl-1", created=1, cpu=1), "dev-cq").submit(wl("p-wl-2", created=2, cpu=2), "prod-cq")
    assert admitted(d.cycle()) == []
    d.finish("p-wl-1")
    assert admitted(d.cycle()) == ["p-wl-2"]
    d.finish("p-wl-2")
    assert admitted(d.cycle()) == ["d-wl-1"]


def test_next_flavor_when_the_first_cannot_preempt():
    """Source: scheduler_test.go::Should try next flavor if can't preempt on first (WhenCanPreempt: Preempt)."""
    d = run([cq("prod-cq", "all", strategy="StrictFIFO", within="LowerPriority",
                fungibility=("MayStopSearch", "Preempt"),
                flavors=[("on-demand", {"cpu": 2}), ("spot-untainted", {"cpu": 2})])])
    d.submit(wl("wl-1", created=1, cpu=1), "prod-cq").submit(wl("wl-2", created=2, cpu=1), "prod-cq")
    d.settle()
    assert (d.flavors_of("wl-1"), d.flavors_of("wl-2")) == ({"cpu": "on-demand"}, {"cpu": "on-demand"})
    d.submit(wl("wl-3", cpu=1), "prod-cq")
    assert (admitted(d.cycle()), d.flavors_of("wl-3")) == (["wl-3"], {"cpu": "spot-untainted"})


def test_next_flavor_instead_of_borrowing():
    """Source: scheduler_test.go::Should try next flavor instead of borrowing (WhenCanBorrow: TryNextFlavor);
    the second flavor is tainted and the workload tolerates it."""
    d = run([cq("prod-cq", "all", flavors=[("on-demand", {"cpu": (10, 10)})]),
             cq("dev-cq", "all", fungibility=("TryNextFlavor", "TryNextFlavor"),
                flavors=[("on-demand", {"cpu": (10, 10)}), ("spot-tainted", {"cpu": 11})])])
    d.submit(wl("wl-1", cpu=9), "prod-cq")
    assert admitted(d.cycle()) == ["wl-1"] and d.flavors_of("wl-1") == {"cpu": "on-demand"}
    d.submit(make_workload("wl-2").request(cpu=11).toleration(INSTANCE, "spot-tainted").obj(), "dev-cq")
    assert admitted(d.cycle()) == ["wl-2"] and d.flavors_of("wl-2") == {"cpu": "spot-tainted"}


def test_untolerated_taint_rules_the_flavor_out():
    """Variation of scheduler_test.go::Should try next flavor instead of borrowing: without the toleration
    the tainted flavor is not eligible, so the workload borrows in the first flavor instead."""
    d = run([cq("prod-cq", "all", flavors=[("on-demand", {"cpu": (10, 10)})]),
             cq("dev-cq", "all", fungibility=("TryNextFlavor", "TryNextFlavor"),
                flavors=[("on-demand", {"cpu": (10, 10)}), ("spot-tainted", {"cpu": 11})])])
    d.running(wl("wl-1", cpu=9), "prod-cq")
    d.submit(wl("wl-2", cpu=11), "dev-cq")
    assert admitted(d.cycle()) == ["wl-2"] and d.flavors_of("wl-2") == {"cpu": "on-demand"}


def test_preempt_before_next_flavor():
    """Source: scheduler_test.go::Should preempt before try next flavor (reclaimWithinCohort: Any,
    WhenCanPreempt: Preempt): the borrower with the lowest priority is reclaimed, the newcomer stays on-demand."""
    d = run([cq("prod-cq", "all", reclaim="Any", fungibility=("MayStopSearch", "Preempt"),
                flavors=[("on-demand", {"cpu": (10, 10)}), ("spot-untainted", {"cpu": 11})]),
             cq("dev-cq", "all", fungibility=("TryNextFlavor", "TryNextFlavor"),
                flavors=[("on-demand", {"cpu": (10, 10)})])])
    d.submit(wl("wl-1", p=0, created=1, cpu=9), "dev-cq").submit(wl("wl-2", p=1, created=2, cpu=9), "dev-cq")
    d.settle()
    assert d.reserved() == {"wl-1": "dev-cq", "wl-2": "dev-cq"}
    d.submit(wl("wl-3", cpu=5), "prod-cq")
    first = d.cycle()
    assert (targets(first), admitted(first)) == ({"wl-1": "InCohortReclamation"}, [])
    d.settle()
    assert d.reserved() == {"wl-2": "dev-cq", "wl-3": "prod-cq"} and d.flavors_of("wl-3") == {"cpu": "on-demand"}


def test_cohort_providing_quota_after_an_update():
    """Source: scheduler_test.go::Should admit workload using resources borrowed from cohort: a cohort with
    no quota, then too little (5), then enough (10)."""
    queues = [cq("clusterqueue", "cohort", flavors=[("on-demand", {"cpu": 0})])]
    d = run(queues)
    d.submit(wl("wl", cpu=10), "clusterqueue")
    assert admitted(d.cycle()) == []
    d.reconfigure(queues, [cohort("cohort", flavors=[("on-demand", {"cpu": 5})])])
    assert admitted(d.cycle()) == []
    d.reconfigure(queues, [cohort("cohort", flavors=[("on-demand", {"cpu": 10})])])
    assert admitted(d.cycle()) == ["wl"] and d.flavors_of("wl") == {"cpu": "on-demand"}


def test_queue_moving_into_a_cohort_with_capacity():
    """Source: scheduler_test.go::Should admit workload when cq switches into cohort with capacity."""
    d = run([cq("clusterqueue", "impecunious-cohort", flavors=[("on-demand", {"cpu": 0})])])
    d.submit(wl("wl", cpu=10), "clusterqueue")
    assert admitted(d.cycle()) == []
    d.reconfigure([cq("clusterqueue", "cohort", flavors=[("on-demand", {"cpu": 0})])],
                  [cohort("cohort", flavors=[("on-demand", {"cpu": 10})])])
    assert admitted(d.cycle()) == ["wl"]


def test_long_distance_quota():
    """Source: scheduler_test.go::Long distance resource allows workload to be scheduled: root → left → cq
    and root → right → bank (10 CPUs)."""
    queues = [cq("cq", "left", flavors=[("on-demand", {"cpu": 0})])]
    tree = [cohort("root"), cohort("left", "root"), cohort("right", "root")]
    d = run(queues, tree)
    d.submit(wl("wl", cpu=10), "cq")
    assert admitted(d.cycle()) == []
    d.reconfigure(queues, [*tree, cohort("bank", "right", flavors=[("on-demand", {"cpu": 10})])])
    assert admitted(d.cycle()) == ["wl"]


def test_borrowing_what_another_queue_lends():
    """Source: scheduler_test.go::Should admit workloads using borrowed ClusterQueue (lendingLimit 1, then a
    second queue lending 4)."""
    prod = cq("prod-cq", "all", flavors=[("on-demand", {"cpu": (5, None, 1)})])
    d = run([prod])
    d.submit(wl("wl", cpu=9), "prod-cq")
    assert admitted(d.cycle()) == []
    d.reconfigure([prod, cq("dev-cq", "all", flavors=[("on-demand", {"cpu": (5, None, 4)})])])
    assert admitted(d.cycle()) == ["wl"]


def test_raising_a_lending_limit():
    """Source: scheduler_test.go::Should admit workloads after updating lending limit (0 → 5)."""
    prod = cq("prod-cq", "all", flavors=[("on-demand", {"cpu": (5, None, 0)})])
    d = run([prod, cq("dev-cq", "all", flavors=[("on-demand", {"cpu": (5, None, 0)})])])
    d.submit(wl("wl-1", created=1, cpu=5), "prod-cq").submit(wl("wl-2", created=2, cpu=5), "prod-cq")
    d.settle()
    assert d.reserved() == {"wl-1": "prod-cq"}
    d.reconfigure([prod, cq("dev-cq", "all", flavors=[("on-demand", {"cpu": (5, None, 5)})])])
    assert admitted(d.cycle()) == ["wl-2"]


def test_strict_fifo_by_priority():
    """Source: scheduler_test.go::Should schedule workloads by their priority strictly: wl3 fits but
    waits behind wl2, which does not."""
    d = run([cq("strict-fifo-cq", "cohort", strategy="StrictFIFO", flavors=[("on-demand", {"cpu": (5, 0)})])])
    for name, p, cpu in (("wl1", 100, 2), ("wl2", 10, 5), ("wl3", 1, 1)):
        d.submit(wl(name, p=p, cpu=cpu), "strict-fifo-cq")
    d.settle()
    assert d.reserved() == {"wl1": "strict-fifo-cq"}
    assert d.engine.pending_entry("wl3") is not None and d.reason("wl2").value == "QuotaExhausted"


def test_strict_fifo_head_holds_its_nominal_quota():
    """Source: scheduler_test.go::Pending workload with StrictFIFO doesn't block other CQ from borrowing
    from a third CQ: the StrictFIFO head cannot fit, but holds what it could still use (2 CPUs), so a
    borrower in team-a takes the rest of the shared quota and the next one is blocked."""
    d = run([cq("strict-fifo-cq", "cohort", strategy="StrictFIFO", flavors=[("on-demand", {"cpu": (5, 0)})]),
             cq("team-a", "cohort", flavors=[("on-demand", {"cpu": 5})]),
             cq("shared-resources", "cohort", flavors=[("on-demand", {"cpu": 5})])])
    d.running(wl("wl", p=10, cpu=3), "strict-fifo-cq").running(wl("player1-a", p=1, cpu=5), "team-a")
    d.submit(wl("pending-wl", p=99, created=1, cpu=3), "strict-fifo-cq")
    d.submit(wl("player2-a", p=11, created=2, cpu=5), "team-a")
    d.submit(wl("player3-a", p=10, created=3, cpu=1), "team-a")
    d.settle()
    assert set(d.reserved()) == {"wl", "player1-a", "player2-a"}
    assert (d.reason("pending-wl").value, d.reason("player3-a").value) == ("QuotaExhausted", "SkippedInCycle")


def test_pods_count_as_a_resource():
    """Source: scheduler_test.go::Should admit workloads as number of pods allows it (5 pods of quota)."""
    d = run([cq("pods-count-cq", flavors=[("on-demand", {"cpu": 100, "pods": 5})])])
    d.submit(wl("wl1", created=1, count=3, cpu=2), "pods-count-cq")
    assert admitted(d.cycle()) == ["wl1"]
    d.submit(wl("wl2", created=2, count=3, cpu=2), "pods-count-cq")
    d.submit(wl("wl3", created=3, count=2, cpu=2), "pods-count-cq")
    assert admitted(d.cycle()) == [] and admitted(d.cycle()) == ["wl3"]  # BestEffortFIFO: wl2 stepped aside
    d.finish("wl1")
    assert admitted(d.cycle()) == ["wl2"]

