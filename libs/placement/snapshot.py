"""The in-memory snapshot of every node in every cluster: numpy arrays behind one small class.

Row ``i`` of every array is node slot ``i``; slot order is the fixed node order used to break
score ties. Mutations are incremental (add/update/remove node, bind/unbind pod) and, inside a
``checkpoint()``, journaled so ``rollback(token)`` restores the exact previous state.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

import numpy as np

from .model import GPU_MILLI, BoundPod, NodeSpec
from .journal import TrialJournal
from .snapshot_index import SnapshotIndex

_DIRTY_LIMIT = 1 << 16


class Snapshot(SnapshotIndex, TrialJournal):
    """Allocatable and allocated resources, GPUs, labels, taints and topology of all nodes."""

    def __init__(self, capacity: int = 64, max_gpus: int = 8) -> None:
        super().__init__()
        self.size = 0  # high-water mark of used slots; arrays are valid in [0, size)
        self._alloc_arrays(max(capacity, 1), max(max_gpus, 1))
        self.specs: list[NodeSpec | None] = []  # spec per slot; None = free slot
        self.index: dict[str, int] = {}  # node name -> slot
        self._free_slots: list[int] = []  # freed slots, reused LIFO
        self.pods: dict[str, tuple[int, BoundPod]] = {}  # pod id -> (slot, pod)
        self.pods_on: list[dict[str, BoundPod]] = []  # slot -> pods bound there
        self.workload_pods: dict[str, set[str]] = {}  # workload id -> its bound pod ids
        self.dirty: list[int] = []  # slots whose usage changed, in order (for score caches)
        self.dyn_epoch = 0  # bumped when ``dirty`` is truncated: caches must fully recompute
        self.open_journal()
        self.memo: dict = {}  # derived caches owned by the placement functions (masks, scores)
        self.unreachable: frozenset[str] = frozenset()  # clusters whose nodes take no new pods (partitioned)

    # -- storage -----------------------------------------------------------------------------
    def _alloc_arrays(self, cap: int, gpus: int) -> None:
        self.cpu_cap = np.zeros(cap, np.int64)  # allocatable milli-CPU
        self.cpu_used = np.zeros(cap, np.int64)  # allocated milli-CPU
        self.mem_cap = np.zeros(cap, np.int64)  # allocatable MiB
        self.mem_used = np.zeros(cap, np.int64)  # allocated MiB
        self.gpu_cnt = np.zeros(cap, np.int64)  # GPUs on the node
        self.gpu_left = np.zeros((cap, gpus), np.int64)  # remaining milli per GPU (0 past gpu_cnt)
        self.gpu_full = np.zeros(cap, np.int64)  # GPUs with all 1000 milli free
        self.gpu_maxleft = np.zeros(cap, np.int64)  # largest remaining milli on any one GPU
        self.gpu_free = np.zeros(cap, np.int64)  # remaining milli summed over the node's GPUs
        self.model = np.zeros(cap, np.int32)  # interned GPU model (0 = none)
        self.cluster = np.full(cap, -1, np.int32)  # interned cluster
        self.pool = np.full(cap, -1, np.int32)  # interned pool
        self.domain = np.zeros((4, cap), np.int32)  # interned domain per TopologyLevel
        self.taintset = np.zeros(cap, np.int32)  # interned set of scheduling taints
        self.healthy = np.zeros(cap, bool)  # reported healthy
        self.cordoned = np.zeros(cap, bool)  # cordoned by ops or node-repair
        self.live = np.zeros(cap, bool)  # slot holds a node
        self.price = np.zeros(cap, np.float64)  # hourly price of the whole node

    _ARRAYS = ("cpu_cap", "cpu_used", "mem_cap", "mem_used", "gpu_cnt", "gpu_left", "gpu_full",
               "gpu_maxleft", "gpu_free", "model", "cluster", "pool", "taintset", "healthy", "cordoned",
               "live", "price")

    def _grow(self, need_slots: int, need_gpus: int) -> None:
        cap, gpus = len(self.cpu_cap), self.gpu_left.shape[1]
        if need_slots <= cap and need_gpus <= gpus:
            return
        old = {name: getattr(self, name) for name in self._ARRAYS}
        old_domain = self.domain
        self._alloc_arrays(max(cap, need_slots, 2 * cap if need_slots > cap else cap),
                           max(gpus, need_gpus))
        for name, arr in old.items():
            new = getattr(self, name)
            if arr.ndim == 2:
                new[: arr.shape[0], : arr.shape[1]] = arr
            else:
                new[: len(arr)] = arr
        self.domain[:, : old_domain.shape[1]] = old_domain
        self.static_epoch += 1
        self.dyn_epoch += 1

    def _touch(self, slot: int) -> None:
        self.dirty.append(slot)
        if len(self.dirty) > _DIRTY_LIMIT:
            self.dirty.clear()
            self.dyn_epoch += 1

    def _refresh_gpu(self, slot: int) -> None:
        row = self.gpu_left[slot]
        self.gpu_full[slot] = int(np.count_nonzero(row == GPU_MILLI))
        self.gpu_maxleft[slot] = int(row.max())
        self.gpu_free[slot] = int(row.sum())

    # -- nodes -------------------------------------------------------------------------------
    def add_node(self, spec: NodeSpec) -> None:
        """Add a node with no pods; raises ValueError if the name exists."""
        if spec.name in self.index:
            raise ValueError(f"node {spec.name} already in snapshot")
        from_free = bool(self._free_slots)
        slot = self._free_slots.pop() if from_free else self.size
        if not from_free:
            self.size += 1
            self.specs.append(None)
            self.pods_on.append({})
        self._grow(slot + 1, spec.gpu_count)
        self.gpu_left[slot] = 0
        self.gpu_left[slot, : spec.gpu_count] = GPU_MILLI
        self._write_spec(slot, spec)
        self._record(("add", slot, from_free))

    def update_node(self, spec: NodeSpec) -> None:
        """Replace a node's static facts (labels, taints, health, cordon, price...) keeping its pods."""
        slot = self.index[spec.name]
        self._grow(slot + 1, spec.gpu_count)
        self._record(("update", slot, self.specs[slot], self.gpu_left[slot].copy()))
        old_cnt = int(self.gpu_cnt[slot])
        if spec.gpu_count > old_cnt:
            self.gpu_left[slot, old_cnt: spec.gpu_count] = GPU_MILLI
        else:
            self.gpu_left[slot, spec.gpu_count:] = 0
        self._write_spec(slot, spec)

    def set_cordoned(self, name: str, cordoned: bool = True) -> None:
        """Cordon or uncordon a node."""
        self.update_node(replace(self.node_spec(name), cordoned=cordoned))

    def set_cluster_reachable(self, cluster: str, reachable: bool = True) -> bool:
        """Marks a whole cluster reachable or not (its nodes keep their pods); returns whether that changed."""
        now = self.unreachable - {cluster} if reachable else self.unreachable | {cluster}
        if now == self.unreachable:
            return False
        self.unreachable = now
        self.static_epoch += 1
        return True

    def set_healthy(self, name: str, healthy: bool = True) -> None:
        """Mark a node healthy or unhealthy."""
        self.update_node(replace(self.node_spec(name), healthy=healthy))

    def remove_node(self, name: str) -> None:
        """Remove a node; its pods are unbound first (their resources vanish with it)."""
        slot = self.index[name]
        for pod_id in list(self.pods_on[slot]):
            self.unbind(pod_id)
        self._record(("remove", slot, self.specs[slot], self.gpu_left[slot].copy()))
        self._clear_slot(slot)
        self._free_slots.append(slot)

    def _write_spec(self, slot: int, spec: NodeSpec) -> None:
        self.specs[slot] = spec
        self.index[spec.name] = slot
        self.cpu_cap[slot] = spec.cpu_milli
        self.mem_cap[slot] = spec.memory_mib
        self.gpu_cnt[slot] = spec.gpu_count
        self.model[slot] = self.intern_model(spec.gpu_model)
        self.cluster[slot] = self.intern("cluster", spec.cluster)
        self.pool[slot] = self.intern("pool", spec.pool)
        self.domain[:, slot] = self.domain_ids(spec)
        self.taintset[slot] = self.intern_taints(spec.taints)
        self.healthy[slot] = spec.healthy
        self.cordoned[slot] = spec.cordoned
        self.live[slot] = True
        self.price[slot] = spec.price_per_hour
        self._refresh_gpu(slot)
        self.static_epoch += 1
        self._touch(slot)

    def _clear_slot(self, slot: int) -> None:
        spec = self.specs[slot]
        assert spec is not None
        del self.index[spec.name]
        self.specs[slot] = None
        for name in ("cpu_cap", "cpu_used", "mem_cap", "mem_used", "gpu_cnt", "gpu_full",
                     "gpu_maxleft", "gpu_free", "model", "price"):
            getattr(self, name)[slot] = 0
        self.gpu_left[slot] = 0
        self.live[slot] = self.healthy[slot] = self.cordoned[slot] = False
        self.cluster[slot] = self.pool[slot] = -1
        self.static_epoch += 1
        self._touch(slot)

    def node_spec(self, name: str) -> NodeSpec:
        """Return the static spec of a node."""
        spec = self.specs[self.index[name]]
        assert spec is not None
        return spec

    # -- pods --------------------------------------------------------------------------------
    def bind(self, pod: BoundPod) -> None:
        """Bind a pod to its node; raises ValueError if any resource or GPU would over-allocate."""
        if pod.pod_id in self.pods:
            raise ValueError(f"pod {pod.pod_id} already bound")
        slot = self.index[pod.node]
        if (self.cpu_used[slot] + pod.cpu_milli > self.cpu_cap[slot]
                or self.mem_used[slot] + pod.memory_mib > self.mem_cap[slot]):
            raise ValueError(f"pod {pod.pod_id} does not fit CPU/memory of node {pod.node}")
        for gpu, milli in pod.gpus:
            if not 0 <= gpu < self.gpu_cnt[slot] or self.gpu_left[slot, gpu] < milli:
                raise ValueError(f"pod {pod.pod_id} does not fit GPU {gpu} of node {pod.node}")
        self._apply(slot, pod, +1)
        self._record(("bind", pod.pod_id))

    def unbind(self, pod_id: str) -> BoundPod:
        """Unbind a pod and return it; raises KeyError if unknown."""
        slot, pod = self.pods[pod_id]
        self._apply(slot, pod, -1)
        self._record(("unbind", pod))
        return pod

    def unbind_workload(self, workload_id: str) -> list[BoundPod]:
        """Unbind every pod of a workload (it finished or was evicted) and return them."""
        return [self.unbind(p) for p in sorted(self.workload_pods.get(workload_id, ()))]

    def _apply(self, slot: int, pod: BoundPod, sign: int) -> None:
        self.cpu_used[slot] += sign * pod.cpu_milli
        self.mem_used[slot] += sign * pod.memory_mib
        for gpu, milli in pod.gpus:
            self.gpu_left[slot, gpu] -= sign * milli
        if pod.gpus:
            self._refresh_gpu(slot)
        if sign > 0:
            self.pods[pod.pod_id] = (slot, pod)
            self.pods_on[slot][pod.pod_id] = pod
            self.workload_pods.setdefault(pod.workload_id, set()).add(pod.pod_id)
        else:
            del self.pods[pod.pod_id]
            del self.pods_on[slot][pod.pod_id]
            members = self.workload_pods[pod.workload_id]
            members.discard(pod.pod_id)
            if not members:
                del self.workload_pods[pod.workload_id]
        self._touch(slot)

    def choose_gpus(self, slot: int, gpu_count: int, gpu_milli: int) -> tuple[tuple[int, int], ...]:
        """Return the GPUs a pod would take on a node: free whole GPUs, or the best-fit shared one."""
        if gpu_count == 0:
            return ()
        row = self.gpu_left[slot]
        if gpu_milli >= GPU_MILLI:
            free = np.flatnonzero(row == GPU_MILLI)[:gpu_count]
            return tuple((int(g), GPU_MILLI) for g in free)
        fits = np.where(row >= gpu_milli, row, GPU_MILLI + 1)
        return ((int(np.argmin(fits)), gpu_milli),)

    # -- bulk ----------------------------------------------------------------------------------
    @classmethod
    def from_nodes(cls, nodes: Iterable[NodeSpec], pods: Iterable[BoundPod] = ()) -> "Snapshot":
        """Build a snapshot in bulk (restart rebuild): all nodes, then all bound pods."""
        nodes = list(nodes)
        snap = cls(capacity=len(nodes), max_gpus=max([n.gpu_count for n in nodes] + [1]))
        for spec in nodes:
            snap.add_node(spec)
        snap.bind_many(pods)
        return snap

    def bind_many(self, pods: Iterable[BoundPod]) -> None:
        """Bind many pods at once (vectorised); raises ValueError, binding none, on over-allocation."""
        pods = list(pods)
        if not pods:
            return
        slots = np.fromiter((self.index[p.node] for p in pods), np.int64, len(pods))
        cpu = np.zeros(len(self.cpu_cap), np.int64)
        mem = np.zeros(len(self.cpu_cap), np.int64)
        np.add.at(cpu, slots, np.fromiter((p.cpu_milli for p in pods), np.int64, len(pods)))
        np.add.at(mem, slots, np.fromiter((p.memory_mib for p in pods), np.int64, len(pods)))
        g_slot, g_idx, g_milli = [], [], []
        for slot, p in zip(slots.tolist(), pods):
            for gpu, milli in p.gpus:
                g_slot.append(slot), g_idx.append(gpu), g_milli.append(milli)
        gpu = np.zeros_like(self.gpu_left)
        np.add.at(gpu, (np.array(g_slot, np.int64), np.array(g_idx, np.int64)), np.array(g_milli, np.int64))
        self._check_bulk(pods, cpu, mem, gpu)
        self.cpu_used += cpu
        self.mem_used += mem
        self.gpu_left -= gpu
        for slot, p in zip(slots.tolist(), pods):
            self.pods[p.pod_id] = (slot, p)
            self.pods_on[slot][p.pod_id] = p
            self.workload_pods.setdefault(p.workload_id, set()).add(p.pod_id)
            self._record(("bind", p.pod_id))
        self.gpu_full = np.count_nonzero(self.gpu_left == GPU_MILLI, axis=1).astype(np.int64)
        self.gpu_maxleft = self.gpu_left.max(axis=1)
        self.gpu_free = self.gpu_left.sum(axis=1)
        self.dirty.clear()
        self.dyn_epoch += 1

    def _check_bulk(self, pods: list[BoundPod], cpu: np.ndarray, mem: np.ndarray, gpu: np.ndarray) -> None:
        if len({p.pod_id for p in pods}) != len(pods) or any(p.pod_id in self.pods for p in pods):
            raise ValueError("duplicate pod id in bulk bind")
        over = (self.cpu_used + cpu > self.cpu_cap) | (self.mem_used + mem > self.mem_cap)
        over |= (self.gpu_left - gpu < 0).any(axis=1)
        if over.any():
            spec = self.specs[int(np.flatnonzero(over)[0])]
            raise ValueError(f"bulk bind over-allocates node {spec.name if spec else '?'}")
