"""Preemption candidates: who may be evicted for a pending workload, best first.

Also the trial that removes victims' usage from the tree with undo, shared by the classic
and the fair-sharing target search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from libs.quota.config import ClusterQueueSpec, FlavorResource, PreemptionPolicy
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
    preempt_for: frozenset[FlavorResource]  # the resources that do not fit without victims


def _allowed(policy: PreemptionPolicy, victim: Workload, preemptor: Workload) -> bool:
    if policy is PreemptionPolicy.ANY:
        return True
    if policy is PreemptionPolicy.LOWER_PRIORITY:
        return victim.priority < preemptor.priority
    if policy is PreemptionPolicy.LOWER_OR_NEWER_EQUAL_PRIORITY:
        return victim.priority < preemptor.priority or (
            victim.priority == preemptor.priority and victim.created_at > preemptor.created_at)
    return False


def _cohort_allowed(p: Preemptor, victim: Workload) -> bool:
    """True when reclaimWithinCohort or borrowWithinCohort lets ``p`` evict ``victim``."""
    policy = p.spec.preemption
    if _allowed(policy.reclaim_within_cohort, victim, p.workload):
        return True
    borrow = policy.borrow_within_cohort
    threshold_ok = borrow.max_priority_threshold is None or victim.priority <= borrow.max_priority_threshold
    return borrow.policy is not PreemptionPolicy.NEVER and threshold_ok and (
        victim.priority < p.workload.priority)


class CandidateIndex:
    """Per-cycle cache of which queues borrow each (flavor, resource), by tree.

    Valid while the snapshot's usage is unchanged, which holds during the preempt phase
    (trial removals are undone before the next preemptor is considered).
    """

    def __init__(self, tree: QuotaTree):
        self.tree = tree
        self._borrowing: dict[tuple[int, FlavorResource], list[QuotaNode]] = {}  # (id(node), fr) → leaves
        self._shares: dict[int, float] = {}  # id(node) → share, without any preemptor

    def share(self, node: QuotaNode) -> float:
        """Returns the node's fair-sharing share (cached for the phase)."""
        found = self._shares.get(id(node))
        if found is None:
            found = self._shares[id(node)] = self.tree.share(node)
        return found

    def borrowing(self, top: QuotaNode, fr: FlavorResource) -> list[QuotaNode]:
        """Returns the cluster queues under ``top`` using more than their quota of ``fr``."""
        key = (id(top), fr)
        found = self._borrowing.get(key)
        if found is None:
            if top.is_queue:
                found = [top] if top.usage.get(fr, 0) > top.subtree.get(fr, 0) else []
            else:
                found = [leaf for child in top.children for leaf in self.borrowing(child, fr)]
            self._borrowing[key] = found
        return found


def _scans_cohort(tree: QuotaTree, p: Preemptor, fair: bool) -> bool:
    """True when victims in other queues could be used: reclaim, borrowWithinCohort, fair sharing."""
    policy = p.spec.preemption
    if fair or policy.borrow_within_cohort.policy is not PreemptionPolicy.NEVER:
        return policy.enabled
    return (policy.reclaim_within_cohort is not PreemptionPolicy.NEVER
            and not tree.borrows(tree.queues[p.spec.name], p.usage))


class CandidateSource:
    """Eligible victims per queue, each list built on first use and ordered best first.

    Classic preemption reads them all (``all``); fair sharing reads only the queues its
    search visits, which is what keeps it affordable in a large tree.
    """

    def __init__(self, tree: QuotaTree, p: Preemptor, admitted: Mapping[str, Mapping[str, Reservation]],
                 now: float, min_runtime: float, fair: bool = False, index: CandidateIndex | None = None):
        self.p, self.admitted, self.now, self.min_runtime = p, admitted, now, min_runtime
        self.tree, self.fair, self.index = tree, fair, index
        self._lists: dict[str, list[Reservation]] = {}  # queue → its candidates, best first
        self._queues: list[str] | None = None  # computed on first use (often never needed)

    @property
    def queues(self) -> list[str]:
        """Returns the preemptor's queue, then the borrowing queues that could hold victims."""
        if self._queues is None:
            self._queues = [self.p.spec.name]
            node = self.tree.queues[self.p.spec.name]
            if node.parent is not None and _scans_cohort(self.tree, self.p, self.fair):
                seen = {self.p.spec.name}
                index = self.index or CandidateIndex(self.tree)
                for other in _other_queues(self.tree, self.p, index, self.fair):
                    if other.name not in seen:
                        seen.add(other.name)
                        self._queues.append(other.name)
        return self._queues

    def of(self, queue: str) -> list[Reservation]:
        """Returns the queue's eligible victims: lowest priority, then most recently reserved."""
        found = self._lists.get(queue)
        if found is None:
            p, needed, own = self.p, self.p.preempt_for, queue == self.p.spec.name
            found = [r for r in self.admitted.get(queue, {}).values()
                     if self.now - r.reserved_at >= self.min_runtime and not needed.isdisjoint(r.admission.usage())
                     and (_allowed(p.spec.preemption.within_cluster_queue, r.workload, p.workload) if own
                          else _cohort_allowed(p, r.workload))]
            found.sort(key=lambda r: (r.workload.priority, -r.reserved_at, r.workload.id))
            self._lists[queue] = found
        return found

    def all(self) -> list[Reservation]:
        """Returns every candidate, best first: other (borrowing) queues before the preemptor's own."""
        found = [r for q in self.queues for r in self.of(q)]
        mine = self.p.spec.name
        found.sort(key=lambda r: (r.admission.cluster_queue == mine, r.workload.priority,
                                  -r.reserved_at, r.workload.id))
        return found


def find_candidates(tree: QuotaTree, p: Preemptor, admitted: Mapping[str, Mapping[str, Reservation]],
                    now: float, min_runtime: float, fair: bool = False,
                    index: CandidateIndex | None = None) -> list[Reservation]:
    """Returns eligible victims, best first: borrowing queues, lowest priority, newest."""
    return CandidateSource(tree, p, admitted, now, min_runtime, fair, index).all()


def lca_sides(tree: QuotaTree, mine: tuple[QuotaNode, ...], target: QuotaNode) -> tuple[QuotaNode, QuotaNode]:
    """Returns the children of the lowest common ancestor on my path (``mine``, root first) and the target's."""
    theirs = tree.ancestry(target)
    k = 0
    while k < len(mine) - 1 and k < len(theirs) - 1 and mine[k] is theirs[k]:
        k += 1
    return mine[k], theirs[k]


def _other_queues(tree: QuotaTree, p: Preemptor, index: CandidateIndex, fair: bool) -> Iterable[QuotaNode]:
    """Yields the borrowing queues in the preemptor's tree that could hold victims.

    With fair sharing, a branch leaving the preemptor's path is skipped whole when its share
    is 0 or below the preemptor's side: both strategies need ``mine ≤ theirs`` where the
    branches meet, and taking victims only lowers theirs.
    """
    mine = tree.ancestry(tree.queues[p.spec.name])
    needed = sorted(p.preempt_for)
    if not fair:
        for fr in needed:
            yield from index.borrowing(mine[0], fr)
        return
    for depth, ancestor in enumerate(mine[:-1]):
        mine_side = mine[depth + 1]
        my_share = None
        for child in ancestor.children:
            if child is mine_side:
                continue
            theirs = index.share(child)
            if theirs <= 0:
                continue
            my_share = tree.share(mine_side, p.usage) if my_share is None else my_share
            if my_share <= theirs:
                for fr in needed:
                    yield from index.borrowing(child, fr)


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
        """Returns the targets after dropping, newest-added first, any that are not needed."""
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
