"""Kueue's classic preemption in hierarchical cohorts, as table tests through the public API.

Source: kubernetes-sigs/kueue pkg/scheduler/preemption/preemption_test.go, TestHierarchicalPreemptions
(now preemption_hierarchical_test.go). Each case id is the upstream case name. A queue with no
quota of its own upstream has nominal 0 here. A preemptor whose request fits the quota of a
subtree it belongs to reclaims from borrowers regardless of priority (InCohortReclamation).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from kueue_driver import Driver, admitted, cohort, cq, targets, wl

SOURCE = "pkg/scheduler/preemption/preemption_test.go::TestHierarchicalPreemptions"
CQ, RC, RWB = "InClusterQueue", "InCohortReclamation", "InCohortReclaimWhileBorrowing"
LP, ANY = "LowerPriority", "Any"
POLICY = dict(within=LP, reclaim=ANY)
BWC = dict(within=LP, reclaim=ANY, borrow=LP, threshold=0)


def q(name, parent, cpu=0, **kw):
    return cq(name, parent, **{**POLICY, **kw}, flavors=[("default", {"cpu": cpu})])


@dataclass(frozen=True)
class Case:
    name: str
    cohorts: tuple
    queues: tuple
    running: list  # (name, queue, priority, cpu[, evicting])
    incoming: tuple  # (priority, cpu[, extra requests])
    want: dict
    target: str = "q"


R_C2 = (cohort("r"), cohort("c", "r", flavors=[("default", {"cpu": 2})]))
R1_C4 = (cohort("r", flavors=[("default", {"cpu": 1})]), cohort("c", "r", flavors=[("default", {"cpu": 4})]))

CASES = [
    Case("preempt with hierarchical advantage", R_C2, (q("q", "c"), q("q_borrowing", "r")),
         [("admitted2", "q_borrowing", 0, 2)], (0, 2), {"admitted2": RC}),
    Case("avoid queues within nominal quota", R_C2, (q("q_nominal", "r", 2), q("q", "c"), q("q_borrowing", "r")),
         [("admitted1", "q_nominal", -10, 2), ("admitted2", "q_borrowing", 0, 2)], (0, 2), {"admitted2": RC}),
    Case("preempt multiple with hierarchical advantage", R_C2, (q("q", "c"), q("q_borrowing", "r")),
         [("admitted1", "q_borrowing", 1, 1), ("admitted2", "q_borrowing", 2, 1)], (0, 2),
         {"admitted1": RC, "admitted2": RC}),
    # Upstream reserves 2 CPUs for admitted_preemptible (its admission says 2); it requests 2 here.
    Case("preempt in cohort and own CQ", (cohort("r"), cohort("c", "r", flavors=[("default", {"cpu": 3})])),
         (q("q", "c", **BWC), q("q_same_cohort", "c")),
         [("admitted_not_preemptible", "q_same_cohort", 1, 1), ("admitted_preemptible", "q_same_cohort", 0, 2),
          ("admitted_own_queue", "q", -1, 1)], (1, 2), {"admitted_preemptible": RWB, "admitted_own_queue": CQ}),
    Case("prefer to preempt hierarchical candidate", R_C2, (q("q", "c"), q("q_borrowing", "r")),
         [("admitted_borrowing", "q_borrowing", 1, 1), ("admitted_same_queue", "q", -2, 1)], (0, 1),
         {"admitted_borrowing": RC}),
    Case("forced to preempt priority candidate", R_C2,
         (q("q", "c", **BWC), q("q_nominal", "r", 2), q("q_same_cohort", "c")),
         [("admitted_nominal", "q_nominal", -10, 2), ("admitted_same_cohort", "q_same_cohort", -1, 2)], (0, 2),
         {"admitted_same_cohort": RWB}),
    Case("incoming workload fits in CQ nominal quota", R_C2,
         (q("q", "c", 4), q("q_borrowing", "r"), q("q_same_cohort", "c")),
         [("admitted_borrowing", "q_borrowing", 10, 3), ("admitted_same_cohort", "q_same_cohort", 10, 3)], (0, 4),
         {"admitted_borrowing": RC, "admitted_same_cohort": RC}),
    Case("preempt hierarchical and priority candidates", R1_C4,
         (q("q", "c", within=LP, reclaim=LP, borrow=LP, threshold=0), q("q_borrowing", "r"), q("q_same_cohort", "c")),
         [("admitted_borrowing", "q_borrowing", -1, 2), ("admitted_same_cohort_preemptible", "q_same_cohort", -1, 1),
          ("admitted_borrowing_not_preemptible", "q_borrowing", 1, 2)], (0, 3),
         {"admitted_borrowing": RC, "admitted_same_cohort_preemptible": RWB}),
    Case("preempt hierarchical candidates and inside CQ", R1_C4,
         (q("q", "c", within=LP, reclaim=LP, borrow=LP, threshold=0), q("q_borrowing", "r"), q("q_same_cohort", "c")),
         [("admitted_borrowing", "q_borrowing", -1, 2), ("admitted_same_queue_preemptible", "q", -1, 1),
          ("admitted_borrowing_not_preemptible", "q_borrowing", 1, 2)], (0, 3),
         {"admitted_borrowing": RC, "admitted_same_queue_preemptible": CQ}),
    Case("reclaim nominal quota from lowest priority workload, excluding non-borrowing",
         (cohort("r"), cohort("c", "r", flavors=[("default", {"cpu": 3})])),
         (q("q", "c"), q("q_borrowing", "r"), q("q_nominal", "r", 2)),
         [("admitted_borrowing_prio_8", "q_borrowing", 8, 1), ("admitted_borrowing_prio_9", "q_borrowing", 9, 1),
          ("admitted_borrowing_prio_10", "q_borrowing", 9, 1), ("admitted_nominal", "q_nominal", -2, 2)], (0, 1),
         {"admitted_borrowing_prio_8": RC}),
    Case("infeasible preemption all available workloads in pruned subtrees",
         (cohort("r"), cohort("c", "r", flavors=[("default", {"cpu": 2})]),
          cohort("c_other", "r", flavors=[("default", {"cpu": 2})])),
         (q("q_other", "c_other"), q("q", "c"), q("q_same_cohort", "c")),
         [("admitted_other_1", "q_other", -10, 1), ("admitted_other_2", "q_other", -10, 1),
          ("admitted_same_cohort", "q_same_cohort", 0, 2)], (0, 2), {}),
    Case("hiearchical preemption with multiple resources",
         (cohort("r", flavors=[("default", {"cpu": 3, "memory": 0})]),
          cohort("c", "r", flavors=[("default", {"cpu": 4, "memory": "4Gi"})])),
         tuple(cq(n, p, **POLICY, flavors=[("default", {"cpu": 0, "memory": 0})])
               for n, p in (("q", "c"), ("q_borrowing", "r"), ("q_same_cohort", "c"))),
         [("admitted_borrowing", "q_borrowing", 0, 3, {"memory": "1Gi"}),
          ("admitted_same_cohort", "q_same_cohort", -2, 1, {"memory": "3Gi"})], (-2, 2, {"memory": "1Gi"}),
         {"admitted_borrowing": RC}),
    # The target is already being evicted: it is reused, so no new preemption is issued, and the
    # incoming is admitted once it has left.
    Case("prefer to preempt evicted workloads", R_C2,
         (q("q", "c", **BWC), q("q_borrowing", "r"), q("q_same_cohort", "c")),
         [("admitted_borrowing", "q_borrowing", -10, 1), ("evicted_same_cohort", "q_same_cohort", -1, 1, {}, True)],
         (0, 1), {}),
    Case("respect lending limits", R_C2,
         (cq("q", "c", **POLICY, flavors=[("default", {"cpu": (3, None, 2)})]), q("q_borrowing", "r")),
         [("admitted_borrowing", "q_borrowing", 0, 4)], (-2, 5), {"admitted_borrowing": RC}),
    Case("reclaim in complex hierarchy",
         (cohort("r"), *(cohort(n, p, flavors=[("default", {"cpu": 4})]) for n, p in (
             ("c11", "r"), ("c12", "r"), ("c21", "c11"), ("c22", "c11"), ("c23", "c11"), ("c31", "c21"),
             ("c32", "c21")))),
         (q("q1", "c12"), q("q2", "c23"), q("q3", "c22"), q("q4", "c32"), q("q5", "c31")),
         [("admitted_borrowing_1", "q1", -6, 4), ("admitted_borrowing_2", "q1", -5, 4),
          ("admitted_borrowing_3", "q2", -9, 4), ("admitted_borrowing_4", "q2", -10, 4),
          ("admitted_borrowing_5", "q3", -4, 4), ("admitted_borrowing_6", "q3", -3, 3),
          ("admitted_borrowing_7", "q4", 4, 2), ("admitted_borrowing_8", "q4", 2, 3)], (-2, 7),
         {"admitted_borrowing_1": RC, "admitted_borrowing_4": RC}, target="q5"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hierarchical_preemption(case: Case):
    """Source: pkg/scheduler/preemption/preemption_test.go::TestHierarchicalPreemptions/<case id>."""
    d = Driver(case.queues, case.cohorts)
    for name, queue, priority, cpu, *rest in case.running:
        extra, evicting = (rest + [{}, False])[:2] if rest else ({}, False)
        d.running(wl(name, p=priority, cpu=cpu, **extra), queue, evicting=evicting)
    priority, cpu, *extra = case.incoming
    d.submit(wl("incoming", p=priority, cpu=cpu, **(extra[0] if extra else {})), case.target)
    first = d.cycle()
    assert (targets(first), admitted(first)) == (case.want, [])
    d.settle()
    reserved = d.reserved()
    evicted = set(case.want) | {r[0] for r in case.running if len(r) > 5 and r[5]}
    if evicted:
        assert "incoming" in reserved and not evicted & set(reserved), reserved
    else:
        assert "incoming" not in reserved
