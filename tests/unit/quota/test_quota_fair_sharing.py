"""Fair sharing: weighted dominant resource share for admission order and preemption.

Sources: https://kueue.sigs.k8s.io/docs/concepts/preemption/#fair-sharing ("ClusterQueue share
value", "Preemption strategies", "Algorithm overview") and .../concepts/fair_sharing/.
"""

import pytest
from quota_helpers import admit_now, admitted_ids, converge, engine_of, run, submit, usage_by_queue

from libs.quota import FairPreemptionStrategy as S
from libs.quota import QuotaTree
from libs.quota.builders import make_cluster_queue, make_cohort, make_workload


def wl(name, queue, cpu=1, created=0.0, priority=0):
    return make_workload(name).queue(queue).request(cpu=cpu).created(created).priority(priority).obj()


def pool_of(a_weight=1.0, b_weight=1.0, shared=3):
    """a and b own nothing (nominal 0) and share the cohort's own quota."""
    pool = make_cohort("pool").flavor("default", cpu=shared).obj()
    a = make_cluster_queue("a").cohort("pool").flavor("default", cpu=0).weight(a_weight).obj()
    b = make_cluster_queue("b").cohort("pool").flavor("default", cpu=0).weight(b_weight).obj()
    return a, b, pool


@pytest.mark.parametrize(("fair", "a_weight", "winner"), [
    pytest.param(True, 1.0, "b", id="preemption#clusterqueue-share-value: lowest share admitted first"),
    pytest.param(True, 4.0, "a", id="preemption#clusterqueue-share-value: weight 4 lowers a's share"),
    pytest.param(False, 1.0, "a", id="classic: both borrow, so the older head wins"),
])
def test_admission_prefers_the_queue_furthest_below_its_fair_share(fair, a_weight, winner):
    a, b, pool = pool_of(a_weight=a_weight)
    engine = engine_of(a, b, cohorts=(pool,), fair=fair)
    admit_now(engine, wl("a0", "a"), wl("a1", "a"))
    submit(engine, wl("a2", "a", created=1), wl("b0", "b", created=2))
    assert admitted_ids(run(engine)) == [f"{winner}{2 if winner == 'a' else 0}"]


def test_share_value_is_borrowed_dominant_resource_over_lendable_divided_by_weight():
    """preemption#clusterqueue-share-value: share summarizes borrowed resources, weighted."""
    a = make_cluster_queue("a").cohort("c").flavor("default", cpu=2, memory="8Gi").weight(2).obj()
    b = make_cluster_queue("b").cohort("c").flavor("default", cpu=6, memory="8Gi").obj()
    engine = engine_of(a, b)
    admit_now(engine, make_workload("w").queue("a").request(cpu=4, memory="4Gi").obj())
    tree: QuotaTree = engine.tree
    # borrows 2 of 8 CPUs (25%) and no memory; weight 2 halves it
    assert tree.share(tree.queues["a"]) == pytest.approx(0.125)
    assert tree.share(tree.queues["b"]) == 0.0


def trio(b_weight=1.0, strategies=None):
    """a, b, c own 3 CPU each; a borrowed everything; reclaimWithinCohort Any everywhere."""
    qs = [make_cluster_queue(n).cohort("abc").flavor("default", cpu=3).preemption(reclaim="Any", within="LowerPriority")
          .weight(b_weight if n == "b" else 1.0).obj() for n in "abc"]
    kw = {"fair_preemption_strategies": strategies} if strategies else {}
    engine = engine_of(*qs, fair=True, **kw)
    admit_now(engine, *[wl(f"a{i}", "a", created=i) for i in range(9)])
    return engine


@pytest.mark.parametrize(("b_weight", "expected"), [
    pytest.param(1.0, {"a": 5, "b": 4}, id="preemption#fair-sharing: equal weights, borrowed share evens out"),
    pytest.param(2.0, {"a": 4, "b": 5}, id="preemption#fair-sharing: weight 2 earns twice the borrowed share"),
])
def test_fair_preemption_until_weighted_share(b_weight, expected):
    engine = trio(b_weight)
    submit(engine, *[wl(f"b{i}", "b", created=20 + i) for i in range(9)], now=1)
    converge(engine, now=1)
    assert usage_by_queue(engine) == expected


def test_only_less_than_initial_share_strategy_stops_earlier():
    """preemption#preemption-strategies: LessThanInitialShare compares against the target's share before."""
    engine = trio(strategies=(S.LESS_THAN_INITIAL_SHARE,))
    submit(engine, *[wl(f"b{i}", "b", created=20 + i) for i in range(9)], now=1)
    converge(engine, now=1)
    assert usage_by_queue(engine) == {"a": 5, "b": 4}


def test_two_queues_never_preempt_each_other_back_and_forth():
    """fair_sharing#proof-that-two-workloads-wont-preempt-each-other: the split is stable."""
    engine = trio()
    submit(engine, *[wl(f"b{i}", "b", created=20 + i) for i in range(9)], now=1)
    converge(engine, now=1)
    before = dict(engine.reservations)
    converge(engine, now=10_000)  # every evicted workload is back from backoff
    survivors = {k for k in before if k in engine.reservations}
    assert survivors == set(before)


def test_queue_within_nominal_is_never_a_fair_sharing_victim():
    engine = trio()
    submit(engine, *[wl(f"b{i}", "b", created=20 + i) for i in range(3)], now=1)
    converge(engine, now=1)
    submit(engine, *[wl(f"c{i}", "c", created=40 + i) for i in range(4)], now=2)
    converge(engine, now=2)
    assert usage_by_queue(engine) == {"a": 3, "b": 3, "c": 3}
