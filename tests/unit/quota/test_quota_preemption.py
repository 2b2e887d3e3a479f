"""Classic preemption, as documented by Kueue.

Sources: https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/#preemption and
https://kueue.sigs.k8s.io/docs/concepts/preemption/ ("Classic Preemption": candidates, targets).
"""

import pytest
from quota_helpers import admit_now, admitted_ids, engine_of, evict_targets, run, submit, targets

from libs.quota import Reason, Timing, Why
from libs.quota.builders import make_cluster_queue, make_workload


def wl(name, queue="cq", cpu=1, priority=0, created=0.0):
    return make_workload(name).queue(queue).request(cpu=cpu).priority(priority).created(created).obj()


@pytest.mark.parametrize(("policy", "victim_priority", "victim_created", "preempted"), [
    pytest.param("LowerPriority", -1, 0, True, id="cluster_queue#preemption: LowerPriority evicts lower priority"),
    pytest.param("LowerPriority", 0, 9, False, id="cluster_queue#preemption: LowerPriority spares equal priority"),
    pytest.param("LowerOrNewerEqualPriority", 0, 9, True,
                 id="cluster_queue#preemption: LowerOrNewerEqualPriority evicts an equal, newer workload"),
    pytest.param("LowerOrNewerEqualPriority", 0, 0, False,
                 id="cluster_queue#preemption: LowerOrNewerEqualPriority spares an equal, older workload"),
    pytest.param("LowerOrNewerEqualPriority", -5, 0, True,
                 id="cluster_queue#preemption: LowerOrNewerEqualPriority evicts lower priority"),
    pytest.param("Never", -1, 0, False, id="cluster_queue#preemption: Never (default) evicts nothing"),
])
def test_within_cluster_queue(policy, victim_priority, victim_created, preempted):
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).preemption(within=policy).obj())
    admit_now(engine, wl("running", cpu=4, priority=victim_priority, created=victim_created))
    submit(engine, wl("incoming", cpu=4, priority=0, created=5))
    result = run(engine, now=1)
    assert (targets(result) == {"running"}) is preempted
    assert result.admitted == ()


def test_fewest_victims_lowest_priority_first():
    """preemption#targets: greedy by lowest priority, then the target list is minimized."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).preemption(within="LowerPriority").obj())
    admit_now(engine, wl("p1", cpu=1, priority=1), wl("p2", cpu=1, priority=2), wl("p3", cpu=2, priority=3))
    submit(engine, wl("high", cpu=2, priority=10))
    assert targets(run(engine)) == {"p1", "p2"}


def test_minimization_drops_unneeded_victims():
    """preemption#targets: "removes a Workload from the list of targets if the preemptor still fits"."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).preemption(within="LowerPriority").obj())
    admit_now(engine, wl("small", cpu=1, priority=1), wl("big", cpu=3, priority=2))
    submit(engine, wl("high", cpu=3, priority=10))
    assert targets(run(engine)) == {"big"}  # "small" was taken first, then found unneeded


def test_most_recently_admitted_is_preempted_first():
    """cluster_queue#preemption: among equals, prefer "Workloads that have been admitted more recently"."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=2).preemption(within="LowerPriority").obj())
    admit_now(engine, wl("old", priority=0), now=0)
    admit_now(engine, wl("new", priority=0, created=1), now=10)
    submit(engine, wl("high", priority=5, created=2), now=20)
    assert targets(run(engine, now=20)) == {"new"}


def reclaim_pair(reclaim, b_priority=0):
    """team-a (4 CPU) idle while team-b (4 CPU) borrowed team-a's 4 with 8 one-CPU workloads."""
    a = make_cluster_queue("team-a").cohort("ab").flavor("default", cpu=4).preemption(reclaim=reclaim).obj()
    b = make_cluster_queue("team-b").cohort("ab").flavor("default", cpu=4).obj()
    engine = engine_of(a, b)
    for i in range(8):
        admit_now(engine, wl(f"b{i}", "team-b", priority=b_priority, created=i), now=i)
    return engine


@pytest.mark.parametrize(("reclaim", "b_priority", "expected"), [
    pytest.param("Any", 0, {"b4", "b5", "b6", "b7"},
                 id="cluster_queue#preemption: reclaimWithinCohort Any takes back lent quota, newest first"),
    pytest.param("LowerPriority", -1, {"b4", "b5", "b6", "b7"},
                 id="cluster_queue#preemption: reclaimWithinCohort LowerPriority, lower-priority borrowers"),
    pytest.param("LowerPriority", 0, set(),
                 id="cluster_queue#preemption: reclaimWithinCohort LowerPriority spares equal priority"),
    pytest.param("Never", 0, set(), id="cluster_queue#preemption: reclaimWithinCohort Never (default)"),
])
def test_reclaim_within_cohort(reclaim, b_priority, expected):
    engine = reclaim_pair(reclaim, b_priority)
    submit(engine, wl("mine", "team-a", cpu=4, created=20), now=20)
    result = run(engine, now=20)
    assert targets(result) == expected
    if expected:
        assert {t.reason for p in result.preempting for t in p.targets} == {Reason.PREEMPTED_RECLAIM}


def test_reclaim_never_touches_a_queue_within_its_nominal_quota():
    """preemption#candidates: other queues are candidates only while they borrow."""
    a = make_cluster_queue("team-a").cohort("ab").flavor("default", cpu=4).preemption(reclaim="Any").obj()
    b = make_cluster_queue("team-b").cohort("ab").flavor("default", cpu=4).obj()
    engine = engine_of(a, b)
    admit_now(engine, wl("a0", "team-a", cpu=4), wl("b0", "team-b", cpu=4))
    submit(engine, wl("a1", "team-a", cpu=1, priority=100, created=1))
    assert targets(run(engine)) == set()


def test_reclaim_takes_back_only_what_was_lent():
    """Lent quota is reclaimed, never more: team-b keeps its own nominal 4."""
    engine = reclaim_pair("Any")
    submit(engine, wl("mine", "team-a", cpu=2, created=20), now=20)
    assert targets(run(engine, now=20)) == {"b6", "b7"}


def borrow_trio(threshold, victim_priority):
    """a, b, c with 4 CPU each; b borrowed 4 (from c); a is full and wants to borrow 2 more."""
    a = (make_cluster_queue("a").cohort("abc").flavor("default", cpu=4)
         .preemption(reclaim="LowerPriority", borrow="LowerPriority", threshold=threshold).obj())
    b = make_cluster_queue("b").cohort("abc").flavor("default", cpu=4).obj()
    c = make_cluster_queue("c").cohort("abc").flavor("default", cpu=4).obj()
    engine = engine_of(a, b, c)
    admit_now(engine, wl("a-own", "a", cpu=4))
    admit_now(engine, *[wl(f"b{i}", "b", cpu=2, priority=victim_priority, created=i) for i in range(4)])
    return engine


@pytest.mark.parametrize(("threshold", "victim_priority", "preempts"), [
    pytest.param(None, 1, True, id="preemption#targets: borrowWithinCohort LowerPriority, no threshold"),
    pytest.param(1, 1, True, id="preemption#targets: victim priority at maxPriorityThreshold"),
    pytest.param(0, 1, False, id="preemption#targets: victim priority above maxPriorityThreshold is spared"),
    pytest.param(None, 5, False, id="preemption#targets: borrowWithinCohort never evicts equal priority"),
])
def test_borrow_within_cohort(threshold, victim_priority, preempts):
    engine = borrow_trio(threshold, victim_priority)
    submit(engine, wl("a-more", "a", cpu=2, priority=5, created=10))
    result = run(engine)
    assert (len(targets(result)) == 1) is preempts
    if preempts:
        assert result.preempting[0].targets[0].reason is Reason.PREEMPTED_WHILE_BORROWING


def test_without_borrow_within_cohort_a_borrower_cannot_preempt_other_queues():
    """preemption#classic: queues borrow first-come first-served unless borrowWithinCohort is set."""
    a = make_cluster_queue("a").cohort("abc").flavor("default", cpu=4).preemption(reclaim="Any").obj()
    b = make_cluster_queue("b").cohort("abc").flavor("default", cpu=4).obj()
    engine = engine_of(a, b)
    admit_now(engine, wl("a-own", "a", cpu=4), *[wl(f"b{i}", "b", cpu=1, priority=-9, created=i) for i in range(4)])
    submit(engine, wl("a-more", "a", cpu=1, priority=5, created=10))
    assert targets(run(engine)) == set()


@pytest.mark.parametrize(("now", "preempted"), [
    pytest.param(30, False, id="minimum runtime: a 30s-old workload is protected"),
    pytest.param(60, True, id="minimum runtime: at 60s it may be preempted"),
])
def test_minimum_runtime_protects_young_workloads(now, preempted):
    spec = make_cluster_queue("cq").flavor("default", cpu=1).preemption(within="LowerPriority").obj()
    engine = engine_of(spec, timing=Timing(min_runtime_seconds=60))
    admit_now(engine, wl("young", priority=0), now=0)
    submit(engine, wl("urgent", priority=9, created=1), now=now)
    assert (targets(run(engine, now=now)) == {"young"}) is preempted


def test_preemption_cycle_end_to_end_requeues_victim_with_backoff():
    """Victim evicted → requeued with backoff; preemptor admitted on the next cycle."""
    spec = make_cluster_queue("cq").flavor("default", cpu=1).preemption(within="LowerPriority").obj()
    engine = engine_of(spec, timing=Timing(backoff_base_seconds=10, backoff_max_seconds=100))
    admit_now(engine, wl("low", priority=0))
    submit(engine, wl("high", priority=9, created=1), now=5)
    first = run(engine, now=5)
    assert targets(first) == {"low"}
    assert run(engine, now=6).preempting == ()  # asked once, not again while eviction is under way
    evict_targets(engine, first, now=7)
    assert admitted_ids(run(engine, now=7)) == ["high"]
    info = engine.pending_info("low", now=8)
    assert info.reason is Reason.BACKOFF and "until t=17" in info.message


def test_backoff_says_its_end_to_the_second_on_an_epoch_clock():
    """Real clocks are epoch seconds: ``:g`` wrote 1.76723e+09 (six digits, hours off, and unreadable to words)."""
    epoch = 1_767_225_600.0  # 2026-01-01 00:00 UTC
    spec = make_cluster_queue("cq").flavor("default", cpu=1).preemption(within="LowerPriority").obj()
    engine = engine_of(spec, timing=Timing(backoff_base_seconds=10, backoff_max_seconds=100))
    admit_now(engine, wl("low", priority=0), now=epoch)
    submit(engine, wl("high", priority=9, created=epoch + 1), now=epoch + 5)
    first = run(engine, now=epoch + 5)
    evict_targets(engine, first, now=epoch + 7)
    run(engine, now=epoch + 7)
    info = engine.pending_info("low", now=epoch + 8)
    assert "until t=1767225617" in info.message


@pytest.mark.parametrize(("evictions", "delays"), [
    pytest.param(1, [10], id="backoff: base after the first eviction"),
    pytest.param(3, [10, 20, 40], id="backoff: doubles with every eviction"),
    pytest.param(6, [10, 20, 40, 80, 100, 100], id="backoff: capped at backoffMaxSeconds"),
])
def test_exponential_backoff_is_deterministic(evictions, delays):
    spec = make_cluster_queue("cq").flavor("default", cpu=1).obj()
    engine = engine_of(spec, timing=Timing(backoff_base_seconds=10, backoff_max_seconds=100))
    admit_now(engine, wl("w"), now=0)
    now, seen = 0.0, []
    for _ in range(evictions):
        requeue_at = engine.evict("w", Why(Reason.EVICTED, "node lost"), now)
        seen.append(requeue_at - now)
        assert run(engine, now=requeue_at - 0.5).admitted == ()  # still backing off
        now = requeue_at
        assert admitted_ids(run(engine, now=now)) == ["w"]
    assert seen == delays
