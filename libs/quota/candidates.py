"""Preemption candidates: who may be evicted for a pending workload, in Kueue's order.

Also the trial that removes victims' usage from the tree with undo, shared by the classic
and the fair-sharing target search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from libs.quota.config import ClusterQueueSpec, FlavorResource, PreemptionPolicy, QuotaConfig
from libs.quota.outcome import Reason
from libs.quota.tree import QuotaNode, QuotaTree, Undo
from libs.quota.workload import Reservation, Workload


@dataclass(frozen=True, slots=True)
class Target:
    """A reservation to evict so the preemptor fits, and why (Kueue's Preempted reasons)."""

    workload_id: str
    cluster_queue: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class Preemptor:
    """What preemption needs to know about the pending workload."""

    workload: Workload
    spec: ClusterQueueSpec
    usage: Mapping[FlavorResource, int]  # the flavor assignment's total usage
    preempt_for: frozenset[FlavorResource]  # the (flavor, resource) pairs that need preemption


@dataclass(slots=True)
class SearchContext:
    """The state a target search reads: the tree (changed only by trials), reservations, time."""

    tree: QuotaTree
    config: QuotaConfig
    admitted: Mapping[str, Mapping[str, Reservation]]  # cluster queue → workload id → reservation
    now: float
    evicting: frozenset[str] = frozenset()  # victims already asked to leave: taken first
    lq_usage: Callable[[Workload], float] | None = None  # admission fair sharing: a local queue's usage
    _over: dict = field(default_factory=dict)  # (id(cohort), frs) → over-nominal leaves beneath
    _shares: dict = field(default_factory=dict)  # id(node) → share with no trial applied
    searches: dict = field(default_factory=dict)  # (workload, queue, usage, contested) → targets found
    leaf_candidates: dict = field(default_factory=dict)  # (queue, contested) → its candidates in order

    def base_share(self, node: QuotaNode) -> float:
        """Returns the node's share as of the cycle's start (valid for nodes no trial touched)."""
        found = self._shares.get(id(node))
        if found is None:
            found = self._shares[id(node)] = self.tree.share(node)
        return found

    def over_nominal_leaves(self, top: QuotaNode, frs: tuple[FlavorResource, ...]) -> list[QuotaNode]:
        """Returns the cluster queues under cohort ``top`` reached through cohorts above their quota
        of some ``frs`` and themselves above it (Kueue skips subtrees within nominal; cached)."""
        key = (id(top), frs)
        found = self._over.get(key)
        if found is None:
            found = []
            for child in top.children:
                if self.tree.within_nominal(child, frs):
                    continue
                found.extend([child] if child.is_queue else self.over_nominal_leaves(child, frs))
            self._over[key] = found
        return found


def allowed(policy: PreemptionPolicy, victim: Workload, preemptor: Workload) -> bool:
    """True when ``policy`` lets ``preemptor`` evict ``victim`` by priority (and age)."""
    if policy is PreemptionPolicy.ANY:
        return True
    if policy is PreemptionPolicy.LOWER_PRIORITY:
        return victim.priority < preemptor.priority
    if policy is PreemptionPolicy.LOWER_OR_NEWER_EQUAL_PRIORITY:
        return victim.priority < preemptor.priority or (
            victim.priority == preemptor.priority and victim.created_at > preemptor.created_at)
    return False


def eligible(ctx: SearchContext, p: Preemptor, r: Reservation) -> bool:
    """True when ``r`` uses a resource the preemptor needs and is old enough to be preempted."""
    return (ctx.now - r.reserved_at >= ctx.config.timing.min_runtime_seconds
            and not p.preempt_for.isdisjoint(r.admission.usage()))


def order_key(ctx: SearchContext, mine: str) -> Callable[[Reservation], tuple]:
    """Returns Kueue's candidate order: already evicting, other queues, (AFS: busier local queue),
    lower priority, more recently reserved, then id."""
    def key(r: Reservation) -> tuple:
        own = r.admission.cluster_queue == mine
        afs = -ctx.lq_usage(r.workload) if own and ctx.lq_usage is not None else 0.0
        return (r.workload.id not in ctx.evicting, own, afs, r.workload.priority, -r.reserved_at, r.workload.id)
    return key


def own_candidates(ctx: SearchContext, p: Preemptor) -> list[Reservation]:
    """Returns the preemptor's own queue's candidates under ``withinClusterQueue``."""
    policy = p.spec.preemption.within_cluster_queue
    if policy is PreemptionPolicy.NEVER:
        return []
    return [r for r in ctx.admitted.get(p.spec.name, {}).values()
            if allowed(policy, r.workload, p.workload) and eligible(ctx, p, r)]


class Trial:
    """Removes victims' usage from the tree, remembering how to put it back."""

    def __init__(self, tree: QuotaTree):
        self.tree = tree
        self.undos: list[Undo] = []  # one per target, to put its usage back
        self.targets: list[Reservation] = []  # victims taken so far, in order
        self.taken: set[str] = set()  # their workload ids

    def take(self, victim: Reservation) -> None:
        node = self.tree.queues[victim.admission.cluster_queue]
        self.undos.append(self.tree.remove_usage(node, victim.admission.usage()))
        self.targets.append(victim)
        self.taken.add(victim.workload.id)

    def rollback(self) -> None:
        for undo in reversed(self.undos):
            undo()
        self.undos, self.targets, self.taken = [], [], set()

    def minimize(self, fits: Callable[[], bool]) -> list[Reservation]:
        """Returns the targets after putting back, newest-taken first, every one not needed."""
        keep = [True] * len(self.targets)
        for i in range(len(self.targets) - 2, -1, -1):
            self.undos[i]()  # put the victim back
            if fits():
                keep[i] = False
            else:
                self.undos[i] = self.tree.remove_usage(
                    self.tree.queues[self.targets[i].admission.cluster_queue],
                    self.targets[i].admission.usage())
        chosen = [t for t, k in zip(self.targets, keep) if k]
        self.undos = [u for u, k in zip(self.undos, keep) if k]
        return chosen


def lca_sides(tree: QuotaTree, mine: tuple[QuotaNode, ...], target: QuotaNode) -> tuple[QuotaNode, QuotaNode]:
    """Returns the children of the lowest common ancestor on my path (``mine``, root first) and the target's."""
    theirs = tree.ancestry(target)
    k = 0
    while k < len(mine) - 1 and k < len(theirs) - 1 and mine[k] is theirs[k]:
        k += 1
    return mine[k], theirs[k]
