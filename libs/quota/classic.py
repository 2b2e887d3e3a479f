"""Classic preemption, as Kueue does it in hierarchical cohorts.

Candidates come in three kinds (Kueue's preemption variants):
- *own queue*: under ``withinClusterQueue``;
- *hierarchical*: in queues that borrow quota the preemptor has a claim to, because its request
  fits the quota of a subtree it belongs to; reclaimed whatever their priority (within
  ``reclaimWithinCohort``);
- *priority*: other borrowing queues. Without ``borrowWithinCohort`` they may be taken only if
  the preemptor then does not borrow; with it, below the priority threshold even while borrowing.

Victims are taken in order until the preemptor fits, once allowing it to borrow and once not
(the order of the two attempts is Kueue's), then the list is minimized.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from libs.quota.candidates import (Preemptor, Reservation, SearchContext, Target, Trial, allowed, eligible,
                                   order_key, own_candidates)
from libs.quota.config import PreemptionPolicy
from libs.quota.outcome import Reason
from libs.quota.tree import QuotaNode


class Variant(str, Enum):
    """How a candidate may be preempted, with the reason the victim is given."""

    WITHIN_CQ = Reason.PREEMPTED_IN_CLUSTER_QUEUE.value
    HIERARCHICAL = Reason.PREEMPTED_RECLAIM.value
    WITHOUT_BORROWING = Reason.PREEMPTED_RECLAIM.value + "/no-borrow"  # only if the preemptor won't borrow
    WHILE_BORROWING = Reason.PREEMPTED_WHILE_BORROWING.value

    @property
    def reason(self) -> Reason:
        return Reason(self.value.split("/")[0])


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reservation that may be preempted, how, and where its branch meets the preemptor's."""

    reservation: Reservation
    variant: Variant
    lca: QuotaNode | None  # the cohort it was found under (None: the preemptor's own queue)


def _variant(p: Preemptor, r: Reservation, advantage: bool) -> Variant | None:
    """Returns how a candidate in another queue may be preempted, or None (Kueue's classification)."""
    policy = p.spec.preemption
    if not allowed(policy.reclaim_within_cohort, r.workload, p.workload):
        return None
    if advantage:
        return Variant.HIERARCHICAL
    borrow = policy.borrow_within_cohort
    if borrow.policy is PreemptionPolicy.NEVER:
        return Variant.WITHOUT_BORROWING
    above = r.workload.priority >= p.workload.priority or (
        borrow.max_priority_threshold is not None and r.workload.priority > borrow.max_priority_threshold)
    return Variant.WITHOUT_BORROWING if above else Variant.WHILE_BORROWING


def _cohort_candidates(ctx: SearchContext, p: Preemptor) -> tuple[list[Candidate], list[Candidate]]:
    """Returns (hierarchical, priority) candidates, walking up from the preemptor's parent."""
    tree, node = ctx.tree, ctx.tree.queues[p.spec.name]
    hierarchy: list[Candidate] = []
    priority: list[Candidate] = []
    if node.parent is None or p.spec.preemption.reclaim_within_cohort is PreemptionPolicy.NEVER:
        return hierarchy, priority
    frs = tuple(sorted(p.preempt_for))
    advantage, remaining = tree.fit_in_quota(node, p.usage)
    previous, ancestor = node, node.parent
    while ancestor is not None:
        into = hierarchy if advantage else priority
        for leaf in ctx.over_nominal_leaves(ancestor, frs):
            if leaf is node or _under(leaf, previous):
                continue
            for r in ctx.admitted.get(leaf.name, {}).values():
                variant = _variant(p, r, advantage) if eligible(ctx, p, r) else None
                if variant is not None:
                    into.append(Candidate(r, variant, ancestor))
        fits, remaining = tree.fit_in_quota(ancestor, remaining)
        advantage = advantage or fits
        previous, ancestor = ancestor, ancestor.parent
    return hierarchy, priority


def _under(leaf: QuotaNode, subtree: QuotaNode) -> bool:
    """True when ``leaf`` sits in ``subtree`` (already searched at a lower level)."""
    node = leaf.parent
    while node is not None:
        if node is subtree:
            return True
        node = node.parent
    return False


class CandidateList:
    """Kueue's candidate iterator: evicting ones first, then hierarchical, priority, own queue."""

    def __init__(self, ctx: SearchContext, p: Preemptor):
        self.ctx, self.p = ctx, p
        hierarchy, priority = _cohort_candidates(ctx, p)
        own = [Candidate(r, Variant.WITHIN_CQ, None) for r in own_candidates(ctx, p)]
        key = order_key(ctx, p.spec.name)
        groups = [sorted(g, key=lambda c: key(c.reservation)) for g in (hierarchy, priority, own)]
        evicting = [c for g in groups for c in g if c.reservation.workload.id in ctx.evicting]
        self.items = evicting + [c for g in groups for c in g if c.reservation.workload.id not in ctx.evicting]
        self.no_other_queues = not hierarchy and not priority
        self.no_hierarchical = not hierarchy

    def valid(self, c: Candidate, borrowing: bool) -> bool:
        """True when ``c`` may still be taken (earlier victims may have brought its branch home)."""
        if c.variant is Variant.WITHIN_CQ:
            return True
        if borrowing and c.variant is Variant.WITHOUT_BORROWING:
            return False
        tree, frs = self.ctx.tree, self.p.preempt_for
        node = tree.queues[c.reservation.admission.cluster_queue]
        while node is not c.lca:
            if tree.within_nominal(node, frs):
                return False
            node = node.parent
        return True


def _fits(ctx: SearchContext, p: Preemptor, borrowing: bool) -> bool:
    tree, node = ctx.tree, ctx.tree.queues[p.spec.name]
    for fr, amount in p.usage.items():
        if not borrowing and tree.borrowing_with(node, fr, amount):
            return False
        if amount > tree.available(node, fr):
            return False
    return True


def _under_nominal(ctx: SearchContext, p: Preemptor) -> bool:
    """True when the preemptor's queue uses less than its nominal quota of every contested resource."""
    node = ctx.tree.queues[p.spec.name]
    return all(node.usage.get(fr, 0) < (node.quotas[fr].nominal if fr in node.quotas else 0)
               for fr in p.preempt_for)


def _attempts(candidates: CandidateList, ctx: SearchContext, p: Preemptor) -> tuple[bool, ...]:
    """Returns the borrowing attempts to make, in Kueue's order."""
    forbidden = p.spec.preemption.borrow_within_cohort.policy is PreemptionPolicy.NEVER
    if candidates.no_other_queues or (forbidden and not _under_nominal(ctx, p)):
        return (True,)
    if forbidden and candidates.no_hierarchical:
        return (False, True)
    return (True, False)


def classic_targets(ctx: SearchContext, p: Preemptor) -> list[Target]:
    """Returns the fewest victims found by Kueue's classic heuristic, or [] when none work."""
    candidates = CandidateList(ctx, p)
    trial = Trial(ctx.tree)
    for borrowing in _attempts(candidates, ctx, p):
        reasons: dict[str, Reason] = {}
        for c in candidates.items:
            if not candidates.valid(c, borrowing):
                continue
            trial.take(c.reservation)
            reasons[c.reservation.workload.id] = c.variant.reason
            if _fits(ctx, p, borrowing):
                chosen = trial.minimize(lambda: _fits(ctx, p, borrowing))
                trial.rollback()
                return [Target(r.workload.id, r.admission.cluster_queue, reasons[r.workload.id]) for r in chosen]
        trial.rollback()
    return []
