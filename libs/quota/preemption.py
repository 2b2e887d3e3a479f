"""Phase 5, preempt: find the fewest admitted workloads whose eviction lets a workload fit.

Finding is separate from doing: this module names targets; the service issues evictions.
Classic preemption is Kueue's hierarchical heuristic (``classic``); fair-sharing preemption
(``fair_preemption``) takes victims from the queue with the highest weighted share while the
configured strategy allows it. ``simulate`` is the flavor assigner's oracle: may preemption
make room for one (flavor, resource), and would the victims be in the queue or the cohort?
"""

from __future__ import annotations

from libs.quota.candidates import Preemptor, SearchContext, Target, Trial, allowed, eligible
from libs.quota.classic import classic_targets
from libs.quota.config import FlavorResource, PreemptionPolicy
from libs.quota.fair_preemption import fair_targets
from libs.quota.modes import FlavorFit, Granular

__all__ = ["Preemptor", "SearchContext", "Target", "find_preemption_targets", "simulate"]


def _beyond_own_borrowing_limit(ctx: SearchContext, p: Preemptor) -> bool:
    """True when the preemptor exceeds its queue's ``nominal + borrowingLimit`` even with every
    own-queue candidate gone: a queue never holds more than that, whatever else is evicted."""
    node = ctx.tree.queues[p.spec.name]
    for fr in p.preempt_for:
        quota = node.quotas.get(fr)
        if quota is None or quota.borrowing_limit is None:
            continue
        excess = node.usage.get(fr, 0) + p.usage[fr] - node.subtree.get(fr, 0) - quota.borrowing_limit
        if excess > 0 and _own_freeable(ctx, p, fr, excess) < excess:
            return True
    return False


def _own_freeable(ctx: SearchContext, p: Preemptor, fr, enough: int) -> int:
    """Returns what own-queue candidates hold of ``fr`` (counting stops at ``enough``)."""
    policy = p.spec.preemption.within_cluster_queue
    if policy is PreemptionPolicy.NEVER:
        return 0
    freed = 0
    for r in ctx.admitted.get(p.spec.name, {}).values():
        held = r.admission.usage().get(fr, 0)
        if held and allowed(policy, r.workload, p.workload) and eligible(ctx, p, r):
            freed += held
            if freed >= enough:
                break
    return freed


def _may_preempt(p: Preemptor) -> bool:
    policy = p.spec.preemption
    return (policy.within_cluster_queue is not PreemptionPolicy.NEVER
            or policy.reclaim_within_cohort is not PreemptionPolicy.NEVER)


def find_preemption_targets(ctx: SearchContext, p: Preemptor) -> list[Target]:
    """Returns the victims that let ``p`` fit (classic or fair sharing), [] when none do.

    Searches are remembered for the cycle's target phase (the tree only changes by trials,
    which are undone): the flavor oracle's search for a one-resource workload is the same
    search as the final one, so it runs once.
    """
    if not p.preempt_for or not _may_preempt(p) or _beyond_own_borrowing_limit(ctx, p):
        return []  # no victim anywhere can help; the search would only trial and give up
    key = (p.workload.id, p.spec.name, tuple(sorted(p.usage.items())), p.preempt_for)
    found = ctx.searches.get(key)
    if found is None:
        found = ctx.searches[key] = (fair_targets(ctx, p, ctx.config.fair_preemption_strategies)
                                     if ctx.config.fair_sharing else classic_targets(ctx, p))
    return list(found)


def simulate(ctx: SearchContext, p: Preemptor, fr: FlavorResource, amount: int) -> FlavorFit:
    """Returns whether preempting could fit ``amount`` of ``fr`` alone: no candidates, preempt
    (some victim in the preemptor's queue) or reclaim (all in the cohort), with the borrowing
    level once the victims are gone (Kueue's preemption oracle)."""
    single = Preemptor(p.workload, p.spec, {fr: amount}, frozenset((fr,)))
    targets = find_preemption_targets(ctx, single)
    node = ctx.tree.queues[p.spec.name]
    if not targets:
        return Granular.NO_CANDIDATES, ctx.tree.borrowing_level(node, fr, amount)[0]
    trial = Trial(ctx.tree)
    for t in targets:
        trial.take(ctx.admitted[t.cluster_queue][t.workload_id])
    level = ctx.tree.borrowing_level(node, fr, amount)[0]
    trial.rollback()
    own = any(t.cluster_queue == p.spec.name for t in targets)
    return (Granular.PREEMPT if own else Granular.RECLAIM), level
