"""The quota tree: cohorts (org → team) over cluster queues, with Kueue's hierarchical accounting.

Each node has a *subtree quota* per (flavor, resource): its own nominal quota plus what
its children lend it. A lending limit keeps ``subtree - lendingLimit`` *guaranteed* to the
node; only usage beyond the guarantee is stored in (and counted against) the parent. A
borrowing limit caps how far beyond its subtree quota a node may draw from its parent.
All trial changes return an undo so a cycle leaves the tree exactly as it found it.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from libs.quota.config import FlavorResource, QuotaConfig, ResourceGroup, ResourceQuota

Undo = Callable[[], None]
Usage = Mapping[FlavorResource, int]


class QuotaNode:
    """One cohort or cluster queue; mutable usage owned by the tree."""

    __slots__ = ("name", "is_queue", "parent", "children", "quotas", "subtree", "guaranteed",
                 "usage", "weight")

    def __init__(self, name: str, is_queue: bool, groups: Iterable[ResourceGroup], weight: float):
        self.name = name  # cohort or cluster queue name
        self.is_queue = is_queue  # True for a cluster queue (a leaf)
        self.parent: QuotaNode | None = None  # the cohort above, None at a root
        self.children: list[QuotaNode] = []  # cohorts and cluster queues below
        self.quotas: dict[FlavorResource, ResourceQuota] = {  # own quota as configured
            (fq.flavor, res): q for g in groups for fq in g.flavors for res, q in fq.resources.items()}
        self.subtree: dict[FlavorResource, int] = {}  # own nominal + what children lend
        self.guaranteed: dict[FlavorResource, int] = {}  # subtree quota that is never lent
        self.usage: dict[FlavorResource, int] = {}  # reserved here, incl. children's excess
        self.weight = weight  # fair-sharing weight

    def path(self) -> list["QuotaNode"]:
        """Returns the nodes from this one up to its root."""
        node, out = self, []
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def root(self) -> "QuotaNode":
        """Returns the root of this node's tree."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node


def _build_subtree(node: QuotaNode) -> None:
    """Fills ``subtree`` and ``guaranteed`` bottom-up (Kueue's hierarchical quota)."""
    node.subtree = {fr: q.nominal for fr, q in node.quotas.items()}
    for child in node.children:
        _build_subtree(child)
        for fr, amount in child.subtree.items():
            node.subtree[fr] = node.subtree.get(fr, 0) + amount - child.guaranteed.get(fr, 0)
    for fr, amount in node.subtree.items():
        limit = node.quotas[fr].lending_limit if fr in node.quotas else None
        if limit is not None and node.parent is not None:
            node.guaranteed[fr] = max(0, amount - limit)


class QuotaTree:
    """Every cohort and cluster queue of a config, plus reserved usage."""

    def __init__(self, config: QuotaConfig):
        self.queues: dict[str, QuotaNode] = {}  # cluster queue name → leaf
        self.cohorts: dict[str, QuotaNode] = {}  # cohort name → inner node (implicit ones too)
        for spec in config.cohorts.values():
            self.cohorts[spec.name] = QuotaNode(spec.name, False, spec.resource_groups, spec.fair_weight)
        for spec in config.cohorts.values():
            if spec.parent is not None:
                self._link(self.cohorts[spec.name], self._cohort(spec.parent))
        for spec in config.cluster_queues.values():
            node = QuotaNode(spec.name, True, spec.resource_groups, spec.fair_weight)
            self.queues[spec.name] = node
            if spec.cohort is not None:
                self._link(node, self._cohort(spec.cohort))
        for node in [*self.cohorts.values(), *self.queues.values()]:
            if node.parent is None:
                _build_subtree(node)
        self._lendable: dict[int, dict[str, int]] = {}  # id(parent) → resource → what it could hold
        self._heights: dict[int, int] = {}  # id(cohort) → distance to its furthest leaf
        self._leaves: dict[str, list[QuotaNode]] = {}  # root name → its cluster queues
        self._ancestry: dict[str, tuple[QuotaNode, ...]] = {}  # queue (or "/cohort") → root..node

    def ancestry(self, node: QuotaNode) -> tuple[QuotaNode, ...]:
        """Returns the nodes from the root down to ``node`` (cached; the shape is fixed)."""
        cached = self._ancestry.get(node.name if node.is_queue else "/" + node.name)
        if cached is None:
            cached = tuple(reversed(node.path()))
            self._ancestry[node.name if node.is_queue else "/" + node.name] = cached
        return cached

    def leaves(self, root: QuotaNode) -> list[QuotaNode]:
        """Returns every cluster queue under ``root`` (cached; the tree's shape is fixed)."""
        if root.name not in self._leaves:
            out, stack = [], [root]
            while stack:
                node = stack.pop()
                if node.is_queue:
                    out.append(node)
                stack.extend(reversed(node.children))
            self._leaves[root.name] = out
        return self._leaves[root.name]

    def _cohort(self, name: str) -> QuotaNode:
        if name not in self.cohorts:  # Kueue allows cohorts that exist only by reference
            self.cohorts[name] = QuotaNode(name, False, (), 1.0)
        return self.cohorts[name]

    @staticmethod
    def _link(child: QuotaNode, parent: QuotaNode) -> None:
        child.parent = parent
        parent.children.append(child)

    # -- capacity ---------------------------------------------------------------------------

    def available(self, node: QuotaNode, fr: FlavorResource) -> int:
        """Returns how much more of ``fr`` the node may reserve now, borrowing included.

        From the root down: a node may take the free part of its guarantee plus what its parent
        has available, capped by its borrowing limit."""
        path = self.ancestry(node)
        root = path[0]
        amount = root.subtree.get(fr, 0) - root.usage.get(fr, 0)
        for n in path[1:]:
            usage, guaranteed = n.usage.get(fr, 0), n.guaranteed.get(fr, 0)
            quota = n.quotas.get(fr)
            if quota is not None and quota.borrowing_limit is not None:
                cap = n.subtree.get(fr, 0) - guaranteed - max(0, usage - guaranteed) + quota.borrowing_limit
                amount = min(amount, cap)
            amount += max(0, guaranteed - usage)
        return amount

    def potential(self, node: QuotaNode, fr: FlavorResource) -> int:
        """Returns the most of ``fr`` the node could ever hold if nothing else ran."""
        path = self.ancestry(node)
        amount = path[0].subtree.get(fr, 0)
        for n in path[1:]:
            amount += n.guaranteed.get(fr, 0)
            quota = n.quotas.get(fr)
            if quota is not None and quota.borrowing_limit is not None:
                amount = min(amount, n.subtree.get(fr, 0) + quota.borrowing_limit)
        return amount

    @staticmethod
    def local_available(node: QuotaNode, fr: FlavorResource) -> int:
        """Returns the node's guaranteed quota of ``fr`` not yet used (invisible to its parent)."""
        return max(0, node.guaranteed.get(fr, 0) - node.usage.get(fr, 0))

    @staticmethod
    def borrowing_with(node: QuotaNode, fr: FlavorResource, amount: int) -> bool:
        """True when ``amount`` more of ``fr`` would take the node above its subtree quota."""
        return node.usage.get(fr, 0) + amount > node.subtree.get(fr, 0)

    @staticmethod
    def within_nominal(node: QuotaNode, frs) -> bool:
        """True when the node uses no more than its subtree quota of every ``fr`` in ``frs``."""
        return all(node.usage.get(fr, 0) <= node.subtree.get(fr, 0) for fr in frs)

    def height(self, node: QuotaNode) -> int:
        """Returns a cohort's distance to its furthest leaf (Kueue's getNodeHeight; cached)."""
        found = self._heights.get(id(node))
        if found is None:
            found = min(len(node.children), 1)
            for child in node.children:
                if not child.is_queue:
                    found = max(found, self.height(child) + 1)
            self._heights[id(node)] = found
        return found

    def borrowing_level(self, node: QuotaNode, fr: FlavorResource, amount: int) -> tuple[int, bool]:
        """Returns the height of the lowest subtree that fits ``amount`` more of ``fr`` (0: no
        borrowing) and whether that subtree is below the root (so quota there may be reclaimed)."""
        if not self.borrowing_with(node, fr, amount) or node.parent is None:
            return 0, node.parent is not None
        remaining = amount - self.local_available(node, fr)
        ancestor = node.parent
        while ancestor is not None:
            if not self.borrowing_with(ancestor, fr, remaining):
                return self.height(ancestor), ancestor.parent is not None
            remaining -= self.local_available(ancestor, fr)
            ancestor = ancestor.parent
        return self.height(node.root()), False

    def fit_in_quota(self, node: QuotaNode, requests: Usage) -> tuple[bool, dict[FlavorResource, int]]:
        """Returns whether ``requests`` fit the node's subtree quota on top of its usage, and what
        exceeds its unused guaranteed quota (to be asked of its parent next)."""
        fits, remaining = True, {}
        for fr, amount in requests.items():
            if node.usage.get(fr, 0) + amount > node.subtree.get(fr, 0):
                fits = False
            remaining[fr] = max(0, amount - self.local_available(node, fr))
        return fits, remaining

    @staticmethod
    def within_limits(node: QuotaNode, frs) -> bool:
        """True when the node's current usage of every ``fr`` respects every limit up its path
        (root capacity, borrowing limits): ``fits(a)`` at usage u is ``within_limits`` at u + a."""
        for fr in frs:
            n = node
            while n.parent is not None:
                quota = n.quotas.get(fr)
                if quota is not None and quota.borrowing_limit is not None:
                    guaranteed = n.guaranteed.get(fr, 0)
                    stored = n.subtree.get(fr, 0) - guaranteed
                    if max(0, n.usage.get(fr, 0) - guaranteed) > stored + quota.borrowing_limit:
                        return False
                n = n.parent
            if n.usage.get(fr, 0) > n.subtree.get(fr, 0):
                return False
        return True

    def fits(self, node: QuotaNode, usage: Usage) -> bool:
        """True when every (flavor, resource) of ``usage`` is available to the node now."""
        return all(amount <= self.available(node, fr) for fr, amount in usage.items())

    def borrows(self, node: QuotaNode, usage: Usage | None = None) -> bool:
        """True when the node (plus ``usage``) is above its subtree quota for any resource."""
        usage = usage or {}
        frs = set(node.usage) | set(usage)
        return any(node.usage.get(fr, 0) + usage.get(fr, 0) > node.subtree.get(fr, 0) for fr in frs)

    # -- usage --------------------------------------------------------------------------------

    def _add(self, node: QuotaNode, fr: FlavorResource, amount: int) -> None:
        while node is not None and amount > 0:
            usage = node.usage.get(fr, 0)
            local_free = max(0, node.guaranteed.get(fr, 0) - usage)
            node.usage[fr] = usage + amount
            amount, node = amount - local_free, node.parent

    def _remove(self, node: QuotaNode, fr: FlavorResource, amount: int) -> None:
        while node is not None and amount > 0:
            usage = node.usage.get(fr, 0)
            stored_in_parent = usage - node.guaranteed.get(fr, 0)
            node.usage[fr] = usage - amount
            amount, node = min(amount, stored_in_parent), node.parent

    def add_usage(self, node: QuotaNode, usage: Usage) -> Undo:
        """Reserves ``usage`` at the node (and the excess up the tree); returns the undo."""
        for fr, amount in usage.items():
            self._add(node, fr, amount)
        return lambda: self.remove_usage(node, usage)

    def remove_usage(self, node: QuotaNode, usage: Usage) -> Undo:
        """Releases ``usage`` from the node (and up the tree); returns the undo."""
        for fr, amount in usage.items():
            self._remove(node, fr, amount)
        return lambda: self.add_usage(node, usage)

    # -- fair sharing -------------------------------------------------------------------------

    def lendable(self, node: QuotaNode) -> dict[str, int]:
        """Returns, per resource name, what the node's parent could hold if nothing else ran,
        summed over flavors (the DRS denominator, Kueue's calculateLendable; cached)."""
        parent = node.parent
        found = self._lendable.get(id(parent))
        if found is None:
            found = {}
            for fr in parent.root().subtree:
                found[fr[1]] = found.get(fr[1], 0) + self.potential(parent, fr)
            self._lendable[id(parent)] = found
        return found

    def share(self, node: QuotaNode, extra: Usage | None = None) -> float:
        """Returns the weighted dominant resource share of borrowed quota (0 when not borrowing)."""
        if node.parent is None:
            return 0.0
        borrowed: dict[str, int] = {}
        usage, subtree = node.usage, node.subtree
        if extra:
            usage = {fr: usage.get(fr, 0) + extra.get(fr, 0) for fr in set(usage) | set(extra)}
        for fr, used in usage.items():
            over = used - subtree.get(fr, 0)
            if over > 0:
                borrowed[fr[1]] = borrowed.get(fr[1], 0) + over
        if not borrowed:
            return 0.0
        if node.weight <= 0:
            return float("inf")
        lendable = self.lendable(node)
        drs = max((b / lendable[r] for r, b in borrowed.items() if lendable.get(r, 0) > 0), default=0.0)
        return drs / node.weight
