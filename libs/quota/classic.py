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

import heapq
from dataclasses import dataclass
from enum import Enum
from operator import itemgetter
from typing import Iterator

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


def _sources(ctx: SearchContext, p: Preemptor) -> list[tuple[QuotaNode, QuotaNode, bool]]:
    """Returns (leaf, cohort it is found under, hierarchical advantage) for every queue that may hold
    candidates, walking up from the preemptor's parent."""
    tree, node = ctx.tree, ctx.tree.queues[p.spec.name]
    if node.parent is None or p.spec.preemption.reclaim_within_cohort is PreemptionPolicy.NEVER:
        return []
    frs, out = tuple(sorted(p.preempt_for)), []
    advantage, remaining = tree.fit_in_quota(node, p.usage)
    previous, ancestor = node, node.parent
    while ancestor is not None:
        out.extend((leaf, ancestor, advantage) for leaf in ctx.over_nominal_leaves(ancestor, frs)
                   if leaf is not node and not _under(leaf, previous))
        fits, remaining = tree.fit_in_quota(ancestor, remaining)
        advantage = advantage or fits
        previous, ancestor = ancestor, ancestor.parent
    return out


def _leaf_candidates(ctx: SearchContext, leaf: QuotaNode, frs: frozenset) -> list[tuple[tuple, Reservation]]:
    """Returns the queue's reservations a preemptor contesting ``frs`` may consider, in Kueue's order
    (the order of another queue's candidates does not depend on the preemptor; cached per cycle)."""
    found = ctx.leaf_candidates.get((leaf.name, frs))
    if found is None:
        probe = Preemptor(None, None, {}, frs)  # type: ignore[arg-type] - eligible reads preempt_for only
        key = order_key(ctx, "")
        found = sorted(((key(r), r) for r in ctx.admitted.get(leaf.name, {}).values() if eligible(ctx, probe, r)),
                       key=itemgetter(0))
        ctx.leaf_candidates[(leaf.name, frs)] = found
    return found


def _stream(ctx: SearchContext, p: Preemptor, sources) -> Iterator[tuple[tuple, Candidate]]:
    """Yields (order key, candidate) from several queues, merged in order, skipping those the
    reclaim policy does not allow."""
    lists = [[(k, r, lca, adv) for k, r in _leaf_candidates(ctx, leaf, p.preempt_for)] for leaf, lca, adv in sources]
    for k, r, lca, adv in heapq.merge(*lists, key=itemgetter(0)):
        variant = _variant(p, r, adv)
        if variant is not None:
            yield k, Candidate(r, variant, lca)


def _under(leaf: QuotaNode, subtree: QuotaNode) -> bool:
    """True when ``leaf`` sits in ``subtree`` (already searched at a lower level)."""
    node = leaf.parent
    while node is not None:
        if node is subtree:
            return True
        node = node.parent
    return False


class CandidateList:
    """Kueue's candidate iterator: evicting ones first, then hierarchical, priority, own queue.

    Read lazily (a search usually stops after a few victims) and remembered, so a second
    borrowing attempt walks the same list.
    """

    def __init__(self, ctx: SearchContext, p: Preemptor):
        self.ctx, self.p = ctx, p
        sources = _sources(ctx, p)
        key = order_key(ctx, p.spec.name)
        own = sorted(((key(r), Candidate(r, Variant.WITHIN_CQ, None)) for r in own_candidates(ctx, p)),
                     key=itemgetter(0))
        self._groups = [_Peek(_stream(ctx, p, [s for s in sources if s[2]])),
                        _Peek(_stream(ctx, p, [s for s in sources if not s[2]])), _Peek(iter(own))]
        hierarchy, priority = (g.first() is not None for g in self._groups[:2])
        self.no_other_queues = not hierarchy and not priority
        self.no_hierarchical = not hierarchy
        self._read: list[Candidate] = []
        self._source = self._ordered()

    def _ordered(self) -> Iterator[Candidate]:
        for group in self._groups:  # evicting ones sort first within each group
            while group.first() is not None and group.first()[0][0] is False:
                yield group.next()[1]
        for group in self._groups:
            while group.first() is not None:
                yield group.next()[1]

    def __iter__(self) -> Iterator[Candidate]:
        yield from self._read
        for c in self._source:
            self._read.append(c)
            yield c

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


class _Peek:
    """An iterator with a look at its next item."""

    def __init__(self, items: Iterator):
        self._items, self._next = items, None
        self._advance()

    def _advance(self) -> None:
        self._next = next(self._items, None)

    def first(self):
        return self._next

    def next(self):
        item = self._next
        self._advance()
        return item


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
        for c in candidates:
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
