"""The quota tree without this cycle's victims: Kueue's ``fits()`` check, kept incrementally.

Before admitting a nominee, Kueue checks that it still fits with every workload preempted
earlier in the cycle, and its own targets, removed (``SimulateWorkloadRemoval``). Removing
every victim again for every nominee costs O(victims) each time. ``WithoutVictims`` keeps a
twin of the tree instead: its usage is copied from the tree once per cycle, when first needed;
every victim claimed is removed from it once; every reservation is added to it as to the
tree. A node's usage depends only on the totals reserved in the cluster queues (the order
of adds and removes does not matter), so the twin always equals the tree without the victims.
"""

from __future__ import annotations

import weakref
from typing import Callable, Mapping

from libs.quota.tree import QuotaNode, QuotaTree, Usage

_SHAPES: "weakref.WeakKeyDictionary[QuotaTree, tuple[QuotaTree, dict[int, QuotaNode]]]" = weakref.WeakKeyDictionary()


def _clone(node: QuotaNode) -> QuotaNode:
    twin = QuotaNode.__new__(QuotaNode)
    twin.name, twin.is_queue, twin.weight = node.name, node.is_queue, node.weight
    twin.quotas, twin.subtree, twin.guaranteed = node.quotas, node.subtree, node.guaranteed  # read-only
    twin.parent, twin.children, twin.usage = None, [], {}
    return twin


def _shape(tree: QuotaTree) -> tuple[QuotaTree, dict[int, QuotaNode]]:
    """Returns a tree of the same shape as ``tree`` (built once per tree) and id(node) → twin node."""
    found = _SHAPES.get(tree)
    if found is None:
        nodes = [*tree.cohorts.values(), *tree.queues.values()]
        twins = {id(n): _clone(n) for n in nodes}
        for n in nodes:
            if n.parent is not None:
                twins[id(n)].parent = twins[id(n.parent)]
                twins[id(n.parent)].children.append(twins[id(n)])
        twin = QuotaTree.__new__(QuotaTree)
        twin.queues = {name: twins[id(n)] for name, n in tree.queues.items()}
        twin.cohorts = {name: twins[id(n)] for name, n in tree.cohorts.items()}
        twin._ancestry = {}  # noqa: SLF001 - the one cache fits() reads
        found = _SHAPES[tree] = (twin, twins)
    return found


def removal_at(leaf: QuotaNode, top: QuotaNode, usage: Usage) -> dict:
    """Returns how much ``top``'s usage would fall (as negative amounts) if ``usage`` left ``leaf``
    (``top`` is on the leaf's path; nothing changes): the tree's own propagation, read only."""
    out = {}
    for fr, amount in usage.items():
        node = leaf
        while node is not top and amount > 0:
            amount = min(amount, node.usage.get(fr, 0) - node.guaranteed.get(fr, 0))
            node = node.parent
        if amount > 0:
            out[fr] = -amount
    return out


class WithoutVictims:
    """The tree with the cycle's claimed victims removed; built on first use."""

    def __init__(self, tree: QuotaTree, victim_usage: Callable[[str, str], Usage]):
        self.tree, self.victim_usage = tree, victim_usage  # victim_usage(workload id, queue) → usage
        self.claimed: dict[str, str] = {}  # victim id → cluster queue
        self.twin: QuotaTree | None = None
        self.nodes: dict[int, QuotaNode] = {}

    def _ready(self) -> QuotaTree:
        if self.twin is None:
            self.twin, self.nodes = _shape(self.tree)
            for node in [*self.tree.cohorts.values(), *self.tree.queues.values()]:
                self.nodes[id(node)].usage = dict(node.usage)
            for wid, cq in self.claimed.items():
                self.twin.remove_usage(self.twin.queues[cq], self.victim_usage(wid, cq))
        return self.twin

    def fits(self, queue: QuotaNode, usage: Usage, targets: Mapping[str, str]) -> bool:
        """True when ``usage`` fits at ``queue`` once the claimed victims and ``targets`` have left."""
        if self.tree.fits(queue, usage):
            return True  # removing workloads only frees quota
        twin = self._ready()
        undos = [twin.remove_usage(twin.queues[cq], self.victim_usage(wid, cq)) for wid, cq in targets.items()]
        ok = twin.fits(self.nodes[id(queue)], usage)
        for undo in reversed(undos):
            undo()
        return ok

    def claim(self, targets: Mapping[str, str]) -> None:
        """Records victims named in this cycle (they leave the twin for good)."""
        self.claimed.update(targets)
        if self.twin is not None:
            for wid, cq in targets.items():
                self.twin.remove_usage(self.twin.queues[cq], self.victim_usage(wid, cq))

    def reserve(self, queue: QuotaNode, usage: Usage) -> None:
        """Mirrors a reservation made in the tree."""
        if self.twin is not None:
            self.twin.add_usage(self.nodes[id(queue)], usage)
