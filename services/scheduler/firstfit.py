"""The spine's placement: first fit over the flavor's pools, all or nothing across the gang.

A small in-memory snapshot of free capacity per node. The full engine (scoring strategies, topology,
preemption, fragmentation awareness) lives in libs/placement.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from libs.events import NodeInventoried, QuotaReserved

Pod = tuple[str, int, int, int]  # node_id, cpu_milli, memory_mib, gpu_milli


@dataclass
class NodeState:
    inventory: NodeInventoried
    cordoned: bool = False
    free_cpu: int = 0
    free_mem: int = 0
    free_gpu_milli: int = 0

    @classmethod
    def of(cls, inv: NodeInventoried, cordoned: bool = False) -> "NodeState":
        return cls(inv, cordoned, inv.cpu_milli, inv.memory_mib, inv.gpu * 1000)


@dataclass
class Snapshot:
    """Free capacity of every known node; placements are applied with ``bind`` and undone with ``unbind``."""

    nodes: dict[str, NodeState] = field(default_factory=dict)

    def upsert(self, inv: NodeInventoried, cordoned: bool = False) -> None:
        old = self.nodes.get(inv.node_id)
        state = NodeState.of(inv, cordoned or (old.cordoned if old else False))
        if old is not None:  # keep what is allocated
            state.free_cpu -= old.inventory.cpu_milli - old.free_cpu
            state.free_mem -= old.inventory.memory_mib - old.free_mem
            state.free_gpu_milli -= old.inventory.gpu * 1000 - old.free_gpu_milli
        self.nodes[inv.node_id] = state

    def bind(self, pods: list[Pod], sign: int = 1) -> None:
        for node_id, cpu, mem, gpu in pods:
            node = self.nodes.get(node_id)
            if node is None:
                continue
            node.free_cpu -= sign * cpu
            node.free_mem -= sign * mem
            node.free_gpu_milli -= sign * gpu

    def unbind(self, pods: list[Pod]) -> None:
        self.bind(pods, sign=-1)


@dataclass(frozen=True)
class Decision:
    pods: list[Pod] | None
    reason: str | None = None
    message: str | None = None


def place(snapshot: Snapshot, reservation: QuotaReserved) -> Decision:
    """Returns a node for every pod of the gang (first fit, trial-bound then undone) or why it cannot."""
    flavors = {fa.pod_set: fa for fa in reservation.flavors}
    for ps in reservation.spec.pod_sets:
        if _fits_some_empty_node(snapshot, flavors.get(ps.name), ps) is False:
            return Decision(None, "never-fits", f"pod set {ps.name}: no node of its flavor could hold one of its "
                                                f"pods even when empty")
    placed: list[Pod] = []
    misses: Counter[str] = Counter()
    try:
        for ps in reservation.spec.pod_sets:
            fa = flavors.get(ps.name)
            need = (ps.requests.cpu_milli, ps.requests.memory_mib, ps.requests.gpu_milli_total)
            for _ in range(ps.count):
                node_id = _first_fit(snapshot, fa, ps.gpu_model, need, misses)
                if node_id is None:
                    total = len(snapshot.nodes)
                    detail = ", ".join(f"{n} {why}" for why, n in misses.most_common())
                    return Decision(None, "insufficient-capacity",
                                    f"pod set {ps.name}: 0/{total} nodes fit a pod ({detail})")
                pod = (node_id, *need)
                snapshot.bind([pod])
                placed.append(pod)
        return Decision(list(placed))
    finally:
        snapshot.unbind(placed)  # trial only: the caller binds once the decision is committed


def _fits_some_empty_node(snapshot: Snapshot, fa, ps) -> bool | None:
    """Returns whether an empty node of the flavor could hold one pod; None while no node of it is known yet.

    Pools are homogeneous, so one known node of the pool answers for the pool.
    """
    models = set(ps.gpu_model.split("|")) if ps.gpu_model else None
    r = ps.requests
    known = False
    for node in snapshot.nodes.values():
        inv = node.inventory
        if fa is not None and ((fa.clusters and inv.cluster not in fa.clusters) or
                               (fa.pools and inv.pool not in fa.pools)):
            continue
        known = True
        if models and r.gpu_milli_total and inv.gpu_model not in models:
            continue
        if inv.cpu_milli >= r.cpu_milli and inv.memory_mib >= r.memory_mib and inv.gpu * 1000 >= r.gpu_milli_total:
            return True
    return False if known else None


def _first_fit(snapshot: Snapshot, fa, gpu_model: str | None, need, misses: Counter) -> str | None:
    cpu, mem, gpu = need
    models = set(gpu_model.split("|")) if gpu_model else None
    misses.clear()
    for node_id, node in snapshot.nodes.items():
        inv = node.inventory
        if fa is not None and ((fa.clusters and inv.cluster not in fa.clusters) or
                               (fa.pools and inv.pool not in fa.pools)):
            misses["outside the flavor's pools"] += 1
        elif node.cordoned:
            misses["cordoned"] += 1
        elif models and gpu and inv.gpu_model not in models:
            misses[f"lack GPU model {gpu_model}"] += 1
        elif node.free_cpu < cpu or node.free_mem < mem or node.free_gpu_milli < gpu:
            misses["lack free capacity"] += 1
        else:
            return node_id
    return None
