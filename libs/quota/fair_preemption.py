"""Fair-sharing preemption: Kueue's LessThanOrEqualToFinalShare and LessThanInitialShare.

Shares are computed with the preemptor's usage added to the tree, as Kueue does. A preemptor
that stays within its nominal quota of the contested resources reclaims from borrowing queues
without consulting the strategies (Kueue's FairSharingPreemptWithinNominal, on by default since
v0.17); those victims are labelled InCohortReclamation.
Source: https://kueue.sigs.k8s.io/docs/concepts/preemption/#fair-sharing
"""

from __future__ import annotations

from typing import Callable, Iterable

from libs.quota.candidates import (Preemptor, SearchContext, Target, Trial, allowed, eligible, lca_sides,
                                   order_key, own_candidates)
from libs.quota.config import FairPreemptionStrategy, PreemptionPolicy
from libs.quota.outcome import Reason
from libs.quota.tree import QuotaNode
from libs.quota.trial import removal_at
from libs.quota.workload import Reservation


def fair_targets(ctx: SearchContext, p: Preemptor, strategies: Iterable[FairPreemptionStrategy]) -> list[Target]:
    """Returns targets chosen from the highest-share queues while the strategy allows it."""
    tree, node = ctx.tree, ctx.tree.queues[p.spec.name]
    undo_self = tree.add_usage(node, p.usage)  # shares include the incoming workload
    within = all(node.usage.get(fr, 0) <= (node.quotas[fr].nominal if fr in node.quotas else 0)
                 for fr in p.preempt_for)
    trial = Trial(tree)

    def fits() -> bool:  # the preemptor's usage is in the tree: it fits if no limit is exceeded
        return tree.within_limits(node, p.usage)

    try:
        for strategy in strategies:
            _FairSearch(ctx, p, node, trial, strategy, within).run(fits)
            if fits():
                chosen = trial.minimize(fits)
                trial.rollback()
                return [Target(c.workload.id, c.admission.cluster_queue, _reason(c, p, within)) for c in chosen]
            if within:
                break  # the strategies were not consulted; a second pass would take the same victims
        trial.rollback()
        return []
    finally:
        undo_self()


def _reason(victim: Reservation, p: Preemptor, within: bool) -> Reason:
    if victim.admission.cluster_queue == p.spec.name:
        return Reason.PREEMPTED_IN_CLUSTER_QUEUE
    return Reason.PREEMPTED_RECLAIM if within else Reason.PREEMPTED_FAIR_SHARING


class _FairSearch:
    """One strategy's pass: take victims from the highest-share queue until the preemptor fits.

    The highest-share queue is found by descending from the root to the child with the
    highest share at every level (Kueue's target ordering); subtrees that do not borrow, or
    hold no candidate, are pruned. Queues are compared with the preemptor where their branches
    meet (the children of the lowest common ancestor, a *side*): shares only fall as victims
    are taken, so a side that fails the strategy stays failed. Shares are cached and
    invalidated along each victim's path.
    """

    def __init__(self, ctx: SearchContext, p: Preemptor, node: QuotaNode, trial: Trial,
                 strategy: FairPreemptionStrategy, within: bool):
        self.ctx, self.tree, self.p, self.node, self.trial = ctx, ctx.tree, p, node, trial
        self.strategy, self.within = strategy, within
        self.groups: dict[str, list[Reservation] | None] = {}  # queue → remaining candidates (None: unread)
        self.live: dict[int, int] = {}  # id(node) → queues with candidates beneath it
        self.verdict: dict[int, bool] = {}  # id(side) → may a victim there pass the strategy?
        self.dead: set[int] = set()  # ids of nodes with no eligible queue left beneath
        self._shares: dict[int, float] = {}  # id(node) → share
        self._mine = self.tree.ancestry(node)
        self._on_my_path = {id(n) for n in self._mine}
        self._touched = set(self._on_my_path)  # nodes whose usage differs from the cycle's start
        for r in trial.targets:  # victims of an earlier strategy's pass are still out
            self._touched.update(id(n) for n in self.tree.ancestry(self.tree.queues[r.admission.cluster_queue]))
        self._key = order_key(ctx, p.spec.name)

    def run(self, fits: Callable[[], bool]) -> None:
        own = sorted((r for r in own_candidates(self.ctx, self.p) if r.workload.id not in self.trial.taken),
                     key=self._key)
        if own:
            self.groups[self.p.spec.name] = own
        for leaf in self._other_queues():
            self.groups[leaf.name] = None
        for name in self.groups:
            for n in self.tree.ancestry(self.tree.queues[name]):
                self.live[id(n)] = self.live.get(id(n), 0) + 1
        while self.groups and not fits():
            name = self._pick()
            if name is None:
                return
            self._step(name)

    def _other_queues(self) -> list[QuotaNode]:
        """Returns the borrowing queues off the preemptor's path whose side could yield a victim."""
        if self.node.parent is None or self.p.spec.preemption.reclaim_within_cohort is PreemptionPolicy.NEVER:
            return []
        frs, out = tuple(sorted(self.p.preempt_for)), []
        for depth, ancestor in enumerate(self._mine[:-1]):
            for child in ancestor.children:
                if child is not self._mine[depth + 1] and self._side_ok(self._mine[depth + 1], child):
                    out.extend(leaf for leaf in self._borrowing_leaves(child, frs))
        return out

    def _borrowing_leaves(self, top: QuotaNode, frs) -> list[QuotaNode]:
        if top.is_queue:
            return [] if self.tree.within_nominal(top, frs) else [top]
        return [leaf for leaf in self.tree.leaves(top) if not self.tree.within_nominal(leaf, frs)]

    def _share(self, node: QuotaNode) -> float:
        key = id(node)
        if key not in self._touched:
            return self.ctx.base_share(node)
        if key not in self._shares:
            self._shares[key] = self.tree.share(node)
        return self._shares[key]

    def _pick(self) -> str | None:
        """Returns the live queue reached by always stepping to the highest-share child; a node
        left with no eligible child is marked dead and the descent restarts."""
        while True:
            node, depth = self._mine[0], 0
            while not node.is_queue:
                best = self._best_child(node, depth)
                if best is None:
                    if depth == 0:
                        return None
                    self.dead.add(id(node))
                    break
                node, depth = best, depth + 1
            else:
                return node.name

    def _best_child(self, node: QuotaNode, depth: int) -> QuotaNode | None:
        on_path = id(node) in self._on_my_path
        best, best_key = None, None
        for child in node.children:
            if self.live.get(id(child), 0) <= 0 or id(child) in self.dead:
                continue
            if on_path and id(child) not in self._on_my_path and not self._side_ok(self._mine[depth + 1], child):
                self.dead.add(id(child))
                continue
            key = (self._share(child), not child.is_queue, child.name)  # ties: a cohort, as Kueue
            if best_key is None or key > best_key:
                best, best_key = child, key
        return best

    def _side_ok(self, mine_side: QuotaNode, their_side: QuotaNode) -> bool:
        """True when a victim under ``their_side`` may pass: it borrows, and (unless the preemptor
        stays within nominal) the strategy holds before the final check."""
        ok = self.verdict.get(id(their_side))
        if ok is None:
            mine, initial = self._share(mine_side), self._share(their_side)
            if self.within:
                ok = initial > 0
            elif self.strategy is FairPreemptionStrategy.LESS_THAN_INITIAL_SHARE:
                ok = initial > 0 and mine < initial
            else:
                ok = initial > 0 and mine <= initial
            self.verdict[id(their_side)] = ok
        return ok

    def _open(self, name: str) -> bool:
        """False when the queue's side fails the strategy (then all its queues do)."""
        if name == self.p.spec.name:
            return True
        return self._side_ok(*lca_sides(self.tree, self._mine, self.tree.queues[name]))

    def _step(self, name: str) -> None:
        own = name == self.p.spec.name
        if self._open(name):
            for victim in self._group(name):
                if own or self._final_ok(name, victim):
                    self._take(name, victim)
                    return
        self._drop(name)  # no victim here can pass the strategy

    def _group(self, name: str) -> list[Reservation]:
        """Returns the queue's remaining candidates, reading them on first use."""
        group = self.groups[name]
        if group is None:
            policy, p, taken = self.p.spec.preemption.reclaim_within_cohort, self.p, self.trial.taken
            group = sorted((r for r in self.ctx.admitted.get(name, {}).values()
                            if r.workload.id not in taken and allowed(policy, r.workload, p.workload)
                            and eligible(self.ctx, p, r)), key=self._key)
            self.groups[name] = group
        return group

    def _drop(self, name: str) -> None:
        del self.groups[name]
        for n in self.tree.ancestry(self.tree.queues[name]):
            self.live[id(n)] -= 1

    def _take(self, name: str, victim: Reservation) -> None:
        self.trial.take(victim)
        self.groups[name].remove(victim)
        for n in self.tree.ancestry(self.tree.queues[name]):  # their shares fell
            self._touched.add(id(n))
            self._shares.pop(id(n), None)
            self.verdict.pop(id(n), None)
        if not self.groups[name]:
            self._drop(name)

    def _final_ok(self, name: str, victim: Reservation) -> bool:
        """LessThanOrEqualToFinalShare: my share with the preemptor ≤ theirs without the victim."""
        if self.within or self.strategy is FairPreemptionStrategy.LESS_THAN_INITIAL_SHARE:
            return True  # already decided by _open, independent of the victim
        mine_side, their_side = lca_sides(self.tree, self._mine, self.tree.queues[name])
        fall = removal_at(self.tree.queues[name], their_side, victim.admission.usage())
        return self._share(mine_side) <= self.tree.share(their_side, fall)
