"""Fair-sharing preemption: Kueue's LessThanOrEqualToFinalShare and LessThanInitialShare.

Source: https://kueue.sigs.k8s.io/docs/concepts/preemption/#fair-sharing
"""

from __future__ import annotations

from typing import Callable, Iterable

from libs.quota.candidates import CandidateSource, Preemptor, Target, Trial, lca_sides
from libs.quota.config import FairPreemptionStrategy
from libs.quota.outcome import Reason
from libs.quota.tree import QuotaNode, QuotaTree
from libs.quota.workload import Reservation


def fair_targets(tree: QuotaTree, p: Preemptor, source: CandidateSource,
                 strategies: Iterable[FairPreemptionStrategy]) -> list[Target]:
    """Returns targets chosen from the highest-share queues while the strategy allows it."""
    node, trial = tree.queues[p.spec.name], Trial(tree)
    fits = lambda: tree.fits(node, p.usage)  # noqa: E731
    for strategy in strategies:
        _FairSearch(tree, p, node, trial, strategy).run(source, fits)
        if fits():
            chosen = trial.minimize(fits)
            trial.rollback()
            return [Target(c.workload.id, c.admission.cluster_queue,
                           Reason.PREEMPTED_IN_CLUSTER_QUEUE if c.admission.cluster_queue == p.spec.name
                           else Reason.PREEMPTED_FAIR_SHARING) for c in chosen]
    trial.rollback()
    return []


class _FairSearch:
    """One strategy's pass: take victims from the highest-share queue until the preemptor fits.

    The highest-share queue is found by descending from the root to the child with the
    highest share at every level (Kueue's target ordering); subtrees with no live candidate
    are skipped. Queues are compared with the preemptor where their branches meet (the
    children of the lowest common ancestor, a *side*): shares only fall as victims are taken,
    so a side that fails the strategy stays failed. Shares are cached and invalidated along
    each victim's path.
    """

    def __init__(self, tree: QuotaTree, p: Preemptor, node: QuotaNode, trial: Trial,
                 strategy: FairPreemptionStrategy):
        self.tree, self.p, self.node, self.trial, self.strategy = tree, p, node, trial, strategy
        self.groups: dict[str, list[Reservation] | None] = {}  # queue → remaining candidates (None: not read yet)
        self.source: CandidateSource | None = None  # where a queue's candidates come from
        self.live: dict[int, int] = {}  # id(node) → queues with candidates beneath it
        self.verdict: dict[int, bool] = {}  # id(side) → may a victim there pass the strategy?
        self.dead: set[int] = set()  # ids of nodes with no eligible queue left beneath
        self._shares: dict[int, float] = {}  # id(node) → share (with the preemptor on its own path)
        self._mine = tree.ancestry(node)
        self._on_my_path = {id(n) for n in self._mine}

    def run(self, source: CandidateSource, fits: Callable[[], bool]) -> None:
        self.source = source
        for name in source.queues:
            self.groups[name] = None
        if not source.of(self.p.spec.name):
            del self.groups[self.p.spec.name]
        for name in self.groups:
            for n in self.tree.ancestry(self.tree.queues[name]):
                self.live[id(n)] = self.live.get(id(n), 0) + 1
        while self.groups and not fits():
            name = self._pick()
            if name is None:
                return
            self._step(name)

    def _share(self, node: QuotaNode) -> float:
        key = id(node)
        if key not in self._shares:
            extra = self.p.usage if key in self._on_my_path else None
            self._shares[key] = self.tree.share(node, extra)
        return self._shares[key]

    def _pick(self) -> str | None:
        """Returns the live queue reached by always stepping to the highest-share child.

        Where the descent leaves the preemptor's path, a branch that fails the strategy is
        skipped whole; a node left with no eligible child is marked dead and the descent restarts.
        """
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
            key = (self._share(child), child.name)
            if best_key is None or key > best_key:
                best, best_key = child, key
        return best

    def _side_ok(self, mine_side: QuotaNode, their_side: QuotaNode) -> bool:
        """True when a victim under ``their_side`` may pass the strategy (before the final check)."""
        ok = self.verdict.get(id(their_side))
        if ok is None:
            mine, initial = self._share(mine_side), self._share(their_side)
            ok = initial > 0 and (mine < initial if self.strategy is FairPreemptionStrategy.LESS_THAN_INITIAL_SHARE
                                  else mine <= initial)
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
        """Returns the queue's remaining candidates, reading them from the source on first use."""
        group = self.groups[name]
        if group is None:
            taken = self.trial.taken
            group = [c for c in self.source.of(name) if c.workload.id not in taken]
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
            self._shares.pop(id(n), None)
            self.verdict.pop(id(n), None)
        if not self.groups[name]:
            self._drop(name)

    def _final_ok(self, name: str, victim: Reservation) -> bool:
        """LessThanOrEqualToFinalShare: my share with the preemptor ≤ theirs without the victim."""
        if self.strategy is FairPreemptionStrategy.LESS_THAN_INITIAL_SHARE:
            return True  # already checked by _open, independent of the victim
        mine_side, their_side = lca_sides(self.tree, self._mine, self.tree.queues[name])
        undo = self.tree.remove_usage(self.tree.queues[name], victim.admission.usage())
        final = self.tree.share(their_side)
        undo()
        return self._share(mine_side) <= final
