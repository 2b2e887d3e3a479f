"""The order in which a cycle's nominees are admitted (Kueue's entry iterators).

- Classic: the least borrowing first (borrowing level, so a workload served by a closer cohort
  goes before one reaching farther up), then higher priority, then older.
- Fair sharing: a tournament at every cohort, re-run after every admission. At each cohort the
  children compete with their nominee's usage added: one not borrowing the nominee's
  (flavor, resource) pairs wins (Kueue's FairSharingPrioritizeNonBorrowing, on by default),
  then the lower weighted share, then priority, then age. Only the cohorts on the path of a
  change are re-run, and a child's value is recomputed only when usage beneath it changed.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from libs.quota.tree import QuotaNode, QuotaTree


class Entry(Protocol):
    """What ordering needs of a nominee."""

    queue: QuotaNode
    usage: dict
    borrowing: int
    order: tuple  # (-priority, created_at, id)


def classic_order(entries: Sequence[Entry]) -> list[Entry]:
    """Returns entries by borrowing level, then priority, then age (Kueue's entryOrdering)."""
    return sorted(entries, key=lambda e: (e.borrowing, e.order))


class FairOrder:
    """Pops entries in fair-sharing order; ``changed(queue)`` after usage is added there."""

    def __init__(self, tree: QuotaTree, entries: Sequence[Entry]):
        self.tree = tree
        self.version: dict[int, int] = {}  # id(node) → bumps when usage beneath it changes
        self.values: dict[tuple[int, int], tuple[int, tuple]] = {}  # (id(entry), id(cohort)) → (version, key)
        self.entries: dict[int, Entry] = {id(e.queue): e for e in entries}  # one head per queue
        self.champion: dict[int, Entry | None] = {}  # id(cohort) → its tournament winner
        self.roots = sorted({e.queue.root().name: e.queue.root() for e in entries}.items())
        self.standalone = sorted((e for e in entries if e.queue.parent is None), key=lambda e: e.order)

    def pop(self) -> Entry | None:
        """Returns the next entry to consider, removing it."""
        if self.standalone:
            entry = self.standalone.pop(0)
            del self.entries[id(entry.queue)]
            return entry
        for _, root in self.roots:
            if root.is_queue:
                continue
            winner = self._winner(root)
            if winner is not None:
                del self.entries[id(winner.queue)]
                self._invalidate(winner.queue)
                return winner
        return None

    def changed(self, queue: QuotaNode) -> None:
        """Records that usage was added at ``queue`` (values of its ancestors' children change)."""
        for node in queue.path():
            self.version[id(node)] = self.version.get(id(node), 0) + 1
        self._invalidate(queue)

    def _invalidate(self, queue: QuotaNode) -> None:
        for node in queue.path()[1:]:
            self.champion.pop(id(node), None)

    def _winner(self, cohort: QuotaNode) -> Entry | None:
        key = id(cohort)
        if key in self.champion:
            return self.champion[key]
        best, best_key = None, None
        for child in cohort.children:
            entry = self.entries.get(id(child)) if child.is_queue else self._winner(child)
            if entry is None:
                continue
            k = self._key(entry, child, cohort)
            if best_key is None or k < best_key:
                best, best_key = entry, k
        self.champion[key] = best
        return best

    def _key(self, entry: Entry, child: QuotaNode, cohort: QuotaNode) -> tuple:
        """Returns how ``entry`` competes at ``cohort`` through ``child`` (cached per usage version)."""
        cache_key, version = (id(entry), id(cohort)), self.version.get(id(child), 0)
        cached = self.values.get(cache_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        undo = self.tree.add_usage(entry.queue, entry.usage)
        borrowing = any(child.usage.get(fr, 0) > child.subtree.get(fr, 0) for fr in entry.usage)
        value = (borrowing, self.tree.share(child), entry.order)
        undo()
        self.values[cache_key] = (version, value)
        return value
