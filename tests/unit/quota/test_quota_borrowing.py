"""Borrowing and lending within a cohort, as documented by Kueue.

Source: https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/ (sections "Borrowing example",
"BorrowingLimit", "LendingLimit", "Flavors and borrowing semantics").
"""

import pytest
from quota_helpers import admit_now, admitted_ids, engine_of, run, run_until_quiet, submit

from libs.quota import Mode, Reason
from libs.quota.builders import make_cluster_queue, make_workload, quota


def team_ab(a_cpu=9, b_cpu=12):
    """The doc's pair: team-a-cq (9 CPU, 36Gi) and team-b-cq (12 CPU, 48Gi) in cohort team-ab."""
    a = make_cluster_queue("team-a-cq").cohort("team-ab").flavor("default-flavor", cpu=a_cpu, memory="36Gi")
    b = make_cluster_queue("team-b-cq").cohort("team-ab").flavor("default-flavor", cpu=b_cpu, memory="48Gi")
    return a.obj(), b.obj()


def cpus(queue, n, each, start=0, **extra):
    return [make_workload(f"{queue}-{i}").queue(queue).request(cpu=each, **extra).created(i).obj()
            for i in range(start, start + n)]


@pytest.mark.parametrize(("requests", "admitted"), [
    pytest.param([3] * 7, 7, id="cluster_queue#borrowing-example: idle team-b lends, team-a reaches 9+12=21 CPU"),
    pytest.param([3] * 8, 7, id="cluster_queue#borrowing-example: the 22nd CPU does not fit"),
    pytest.param([21], 1, id="cluster_queue#borrowing-example: one 21-CPU workload borrows 12"),
    pytest.param([22], 0, id="cluster_queue#borrowing-example: 22 CPUs exceed the cohort"),
])
def test_idle_queue_lends_its_whole_nominal_quota(requests, admitted):
    a, b = team_ab()
    engine = engine_of(a, b)
    submit(engine, *[make_workload(f"w{i}").queue("team-a-cq").request(cpu=c).created(i).obj()
                     for i, c in enumerate(requests)])
    assert len(run_until_quiet(engine)) == admitted


def test_memory_borrows_too_up_to_84Gi():
    """cluster_queue#borrowing-example: "... and 48+36=84Gi of memory"."""
    a, b = team_ab()
    engine = engine_of(a, b)
    submit(engine, make_workload("big").queue("team-a-cq").request(cpu=1, memory="84Gi").obj(),
           make_workload("too-big").queue("team-a-cq").request(cpu=1, memory="1Gi").created(1).obj())
    assert run_until_quiet(engine) == ["big"]


def test_queue_within_nominal_is_admitted_before_a_borrowing_queue():
    """cluster_queue#borrowing-example: team-b's nominal quota is met before team-a borrows more."""
    a, b = team_ab()
    engine = engine_of(a, b)
    admit_now(engine, *cpus("team-a-cq", 3, 3, memory="1Gi"))  # team-a at 9/9
    submit(engine, make_workload("a-more").queue("team-a-cq").request(cpu=12).created(0).obj(),
           make_workload("b-own").queue("team-b-cq").request(cpu=12).created(5).obj())
    result = run(engine)
    assert admitted_ids(result) == ["b-own"]
    assert {p.workload_id: p.why.reason for p in result.pending} == {"a-more": Reason.SKIPPED_IN_CYCLE}


@pytest.mark.parametrize(("queue", "max_cpu"), [
    pytest.param("team-a-cq", 10, id="cluster_queue#borrowinglimit: team-a borrows at most 1 (9+1=10)"),
    pytest.param("team-b-cq", 21, id="cluster_queue#borrowinglimit: no limit, team-b borrows 12+9"),
])
def test_borrowing_limit(queue, max_cpu):
    a = make_cluster_queue("team-a-cq").cohort("team-ab").flavor("default-flavor", cpu=quota(9, borrow=1)).obj()
    b = make_cluster_queue("team-b-cq").cohort("team-ab").flavor("default-flavor", cpu=12).obj()
    engine = engine_of(a, b)
    submit(engine, *[make_workload(f"w{i}").queue(queue).request(cpu=1).created(i).obj() for i in range(30)])
    assert len(run_until_quiet(engine)) == max_cpu


@pytest.mark.parametrize(("lend", "team_a_max"), [
    pytest.param(None, 21, id="cluster_queue#lendinglimit: no limit, team-b lends all 12"),
    pytest.param(1, 10, id="cluster_queue#lendinglimit: team-b lends only 1 (9+1=10)"),
    pytest.param(0, 9, id="cluster_queue#lendinglimit: lendingLimit 0 lends nothing"),
])
def test_lending_limit(lend, team_a_max):
    a = make_cluster_queue("team-a-cq").cohort("team-ab").flavor("default-flavor", cpu=9).obj()
    b = make_cluster_queue("team-b-cq").cohort("team-ab").flavor("default-flavor", cpu=quota(12, lend=lend)).obj()
    engine = engine_of(a, b)
    submit(engine, *[make_workload(f"w{i}").queue("team-a-cq").request(cpu=1).created(i).obj() for i in range(30)])
    assert len(run_until_quiet(engine)) == team_a_max


def test_lender_keeps_its_guaranteed_part_while_lending():
    """cluster_queue#lendinglimit: the quota above the lending limit stays reserved for the lender."""
    a = make_cluster_queue("team-a-cq").cohort("team-ab").flavor("default-flavor", cpu=9).obj()
    b = make_cluster_queue("team-b-cq").cohort("team-ab").flavor("default-flavor", cpu=quota(12, lend=4)).obj()
    engine = engine_of(a, b)
    admit_now(engine, *cpus("team-a-cq", 13, 1))  # 9 own + 4 borrowed
    submit(engine, *cpus("team-b-cq", 9, 1))
    assert len(run_until_quiet(engine)) == 8  # 12 - 4 lent = 8 guaranteed, without preemption


def test_queue_can_only_borrow_flavors_it_defines():
    """cluster_queue#flavors-and-borrowing-semantics: "can only borrow quota for flavors that the ClusterQueue defines"."""
    a = make_cluster_queue("team-a-cq").cohort("team-ab").flavor("spot", cpu=2).obj()
    b = make_cluster_queue("team-b-cq").cohort("team-ab").flavor("on-demand", cpu=100).obj()
    engine = engine_of(a, b)
    submit(engine, make_workload("w").queue("team-a-cq").request(cpu=3).obj())
    result = run(engine)
    assert result.admitted == () and result.pending[0].why.reason is Reason.NO_FIT


def test_queue_without_cohort_cannot_borrow_and_says_so():
    engine = engine_of(make_cluster_queue("solo").flavor("h100", gpu=8).obj())
    submit(engine, make_workload("w").queue("solo").request(gpu=9).obj())
    why = run(engine).pending[0].why
    assert why.reason is Reason.NO_FIT
    assert why.message == "solo at 0% of nominal GPU quota in h100 (0/8, needs 9); not in a cohort, cannot borrow"


def test_every_pod_counts_against_pods_quota():
    """cluster_queue.md: the reserved `pods` resource limits how many pods are admitted."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=100, pods=5).obj())
    submit(engine, make_workload("four").queue("cq").request(cpu=1).count(4).obj(),
           make_workload("two").queue("cq").request(cpu=1).count(2).created(1).obj())
    assert run_until_quiet(engine) == ["four"]


def test_mode_order_is_nofit_preempt_fit():
    assert Mode.NO_FIT < Mode.PREEMPT < Mode.FIT and max(Mode) is Mode.FIT
