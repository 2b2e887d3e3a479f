"""Hierarchical cohorts: quota, borrowing and lending limits at every level of the tree.

Source: https://kueue.sigs.k8s.io/docs/concepts/cohort/ ("Configuring Quotas",
"Hierarchical Cohorts") and the hierarchical cohorts KEP it links.
"""

import pytest
from quota_helpers import admit_now, converge, engine_of, run_until_quiet, submit, usage_by_queue

from libs.quota.builders import make_cluster_queue, make_cohort, make_workload, quota


def ones(queue, n, start=0, priority=0):
    return [make_workload(f"{queue}-{i}").queue(queue).request(cpu=1).created(i).priority(priority).obj()
            for i in range(start, start + n)]


def test_cohort_quota_is_a_shared_pool_for_queues_with_zero_nominal():
    """cohort#configuring-quotas: "the ClusterQueue may access the 12 shared CPUs defined by its Cohort"."""
    cohort = make_cohort("hello-cohort").flavor("default-flavor", cpu=12).obj()
    cq = make_cluster_queue("my-cluster-queue").cohort("hello-cohort").flavor("default-flavor", cpu=0).obj()
    engine = engine_of(cq, cohorts=(cohort,))
    submit(engine, *ones("my-cluster-queue", 13))
    assert len(run_until_quiet(engine)) == 12


def test_queue_must_define_the_flavor_to_use_cohort_quota():
    """cohort#configuring-quotas: a queue "must define nominal quota ... even if this value is 0"."""
    cohort = make_cohort("hello-cohort").flavor("default-flavor", cpu=12).obj()
    cq = make_cluster_queue("cq").cohort("hello-cohort").flavor("other", cpu=0).obj()
    engine = engine_of(cq, cohorts=(cohort,))
    submit(engine, *ones("cq", 1))
    assert run_until_quiet(engine) == []


def org_tree(org_a_limits=(0, None, None), org_b_limits=(0, None, None)):
    """root → org-a → team-a → qa (10 CPU) and root → org-b → team-b → qb (0 CPU)."""
    root = make_cohort("root").obj()
    org_a = make_cohort("org-a").parent("root").flavor("default", cpu=quota(*org_a_limits)).obj()
    org_b = make_cohort("org-b").parent("root").flavor("default", cpu=quota(*org_b_limits)).obj()
    team_a = make_cohort("team-a").parent("org-a").obj()
    team_b = make_cohort("team-b").parent("org-b").obj()
    qa = make_cluster_queue("qa").cohort("team-a").flavor("default", cpu=10).preemption(reclaim="Any").obj()
    qb = make_cluster_queue("qb").cohort("team-b").flavor("default", cpu=0).obj()
    return engine_of(qa, qb, cohorts=(root, org_a, org_b, team_a, team_b))


@pytest.mark.parametrize(("org_a", "org_b", "qb_max"), [
    pytest.param((0, None, None), (0, None, None), 10, id="cohort#hierarchical-cohorts: unused quota flows across orgs"),
    pytest.param((0, None, 4), (0, None, None), 4, id="cohort#hierarchical-cohorts: org-a lendingLimit 4"),
    pytest.param((0, None, None), (0, 3, None), 3, id="cohort#hierarchical-cohorts: org-b borrowingLimit 3"),
    pytest.param((0, None, 4), (0, 3, None), 3, id="cohort#hierarchical-cohorts: the tighter limit wins"),
    pytest.param((2, None, None), (0, None, None), 12, id="cohort#configuring-quotas: org-a's own quota is lent too"),
])
def test_limits_at_cohort_level(org_a, org_b, qb_max):
    engine = org_tree(org_a, org_b)
    submit(engine, *ones("qb", 20))
    assert len(run_until_quiet(engine)) == qb_max


def test_team_lending_limit_caps_what_leaves_the_team_but_not_what_siblings_share():
    """A team cohort lends unused quota to siblings; a lending limit at the team keeps the rest home."""
    root = make_cohort("root").obj()
    team = make_cohort("team").parent("root").flavor("default", cpu=quota(0, None, 2)).obj()
    q1 = make_cluster_queue("q1").cohort("team").flavor("default", cpu=6).obj()
    q2 = make_cluster_queue("q2").cohort("team").flavor("default", cpu=0).obj()
    outsider = make_cluster_queue("out").cohort("root").flavor("default", cpu=0).obj()
    engine = engine_of(q1, q2, outsider, cohorts=(root, team))
    submit(engine, *ones("out", 10), *ones("q2", 10, start=100))
    run_until_quiet(engine)
    assert usage_by_queue(engine) == {"out": 2, "q2": 4}  # only 2 of the team's 6 may leave it


def test_reclaim_across_orgs_returns_lent_quota():
    """Lent quota is reclaimed from another org's queue once its owner needs it."""
    engine = org_tree()
    admit_now(engine, *ones("qb", 10))
    submit(engine, *ones("qa", 4, start=50), now=1)
    converge(engine, now=1)
    assert usage_by_queue(engine) == {"qa": 4, "qb": 6}


def test_hierarchical_weights_split_the_shared_pool_75_25():
    """cohort#hierarchical-cohorts: important-org (weight 0.75) trends to 75%, regular-org to 25%."""
    root = make_cohort("root-cohort").flavor("default", cpu=8).obj()
    important = make_cohort("important-org").parent("root-cohort").weight(0.75).obj()
    regular = make_cohort("regular-org").parent("root-cohort").weight(0.25).obj()
    imp = make_cluster_queue("imp").cohort("important-org").flavor("default", cpu=0).preemption(reclaim="Any").obj()
    reg = make_cluster_queue("reg").cohort("regular-org").flavor("default", cpu=0).preemption(reclaim="Any").obj()
    engine = engine_of(imp, reg, cohorts=(root, important, regular), fair=True)
    admit_now(engine, *ones("reg", 8))
    submit(engine, *ones("imp", 8, start=50), now=1)
    converge(engine, now=1)
    assert usage_by_queue(engine) == {"imp": 6, "reg": 2}
