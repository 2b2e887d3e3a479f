"""Interning of the snapshot's static facts (models, clusters, domains, labels, taints).

Strings become small integers so filters are vectorised numpy comparisons. Everything here
is derived from node specs and is invalidated by ``static_epoch``.
"""

from __future__ import annotations

import numpy as np

from .model import NodeSpec, Taint, TaintEffect, TopologyLevel

_SCHEDULING_EFFECTS = (TaintEffect.NO_SCHEDULE, TaintEffect.NO_EXECUTE)


class SnapshotIndex:
    """Interners plus per-epoch caches of label columns; the base of ``Snapshot``."""

    specs: list[NodeSpec | None]
    size: int

    def __init__(self) -> None:
        self.static_epoch = 0  # bumped on any change of static node facts
        self._names: dict[str, dict[str, int]] = {"model": {"": 0}, "cluster": {}, "pool": {},
                                                  "domain": {}, "value": {}}
        self.taintsets: list[tuple[Taint, ...]] = [()]  # interned scheduling-taint sets
        self._taintset_ids: dict[tuple[Taint, ...], int] = {(): 0}
        self._label_cols: dict[str, np.ndarray] = {}  # label key -> value id per slot (-1 absent)
        self._label_epoch = -1  # static_epoch the label columns were built at
        self._clusters_of: dict[tuple, tuple[str, ...]] = {}  # (among, pools) -> clusters, at _clusters_epoch
        self._clusters_epoch = -1

    def intern(self, kind: str, name: str) -> int:
        """Return the stable small integer for ``name`` within ``kind``."""
        table = self._names[kind]
        found = table.get(name)
        if found is None:
            found = table[name] = len(table)
        return found

    def lookup(self, kind: str, name: str) -> int:
        """Return the id of ``name`` or -2 (matches no node) if it was never seen."""
        return self._names[kind].get(name, -2)

    def cluster_names(self, among: tuple[str, ...] = (), pools: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Return the clusters that have live nodes (only those in ``among``, if given; only those with a node of
        one of ``pools``, if given: a flavor naming a pool but no cluster spans the clusters that have it)."""
        table = self._names["cluster"]
        if len(table) <= 1:
            return tuple(c for c in table if not among or c in among)
        if len(among) == 1:
            return among
        if self._clusters_epoch != self.static_epoch:
            self._clusters_of, self._clusters_epoch = {}, self.static_epoch
        key = (among, pools)
        found = self._clusters_of.get(key)
        if found is None:
            live = {spec.cluster for spec in self.specs if spec is not None and (not pools or spec.pool in pools)}
            found = self._clusters_of[key] = tuple(sorted(c for c in live if not among or c in among))
        return found

    def intern_model(self, model: str) -> int:
        """Return the id of a GPU model (0 = no GPU model)."""
        return self.intern("model", model)

    def domain_ids(self, spec: NodeSpec) -> list[int]:
        """Return the domain id of a node at each TopologyLevel (names are scoped by parents)."""
        t = spec.topology
        path = (spec.cluster, t.zone, t.block, t.rack, t.host or spec.name)
        return [self.intern("domain", "/".join(path[: 5 - level])) for level in TopologyLevel]

    def intern_taints(self, taints: tuple[Taint, ...]) -> int:
        """Return the id of the node's set of scheduling taints (NoSchedule / NoExecute)."""
        key = tuple(sorted((t for t in taints if t.effect in _SCHEDULING_EFFECTS),
                           key=lambda t: (t.key, t.value, t.effect.value)))
        found = self._taintset_ids.get(key)
        if found is None:
            found = self._taintset_ids[key] = len(self.taintsets)
            self.taintsets.append(key)
        return found

    def label_column(self, key: str) -> np.ndarray:
        """Return, per slot, the interned value of label ``key`` (-1 where absent)."""
        if self._label_epoch != self.static_epoch:
            self._label_cols.clear()
            self._label_epoch = self.static_epoch
        col = self._label_cols.get(key)
        if col is None:
            col = np.full(self.size, -1, np.int32)
            for slot, spec in enumerate(self.specs):
                if spec is not None and key in spec.labels:
                    col[slot] = self.intern("value", spec.labels[key])
            self._label_cols[key] = col
        return col
