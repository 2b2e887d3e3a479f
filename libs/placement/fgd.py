"""GPU fragmentation in the spirit of FGD (Weng et al., USENIX ATC'23, "Beware of Fragmentation").

A node's fragmentation, for an expected pod mix ("typical pods" with popularities), is the
expected amount of free GPU milli that the next pod could not use: all of the node's free GPU
if the pod cannot fit there at all (or needs no GPU), else the free milli on GPUs too small for it.
The scorer prefers the node whose placement increases fragmentation the least.

Optionally (``stranding``) the measure also counts the free GPU milli a node's remaining CPU and
memory can no longer serve: GPU pods of the mix bring on average ``cpu_per_milli`` CPU per GPU
milli, so a node with c free CPU can host at most c / cpu_per_milli more GPU milli of them; free GPU
beyond that is stranded. FGD itself only asks whether *one* typical pod still fits, so it lets
CPU-heavy pods (CPU-only ones especially) eat the CPU of GPU-dense nodes and strand their GPUs.
With ``stranding_whole``, nothing is stranded on a node where a typical GPU pod fits that would take
all of its free GPUs: an idle 8-GPU node poor in CPU still serves a whole 8-GPU pod, and breaking it
with a small pod to use its GPUs at the average rate is no gain.
With ``stranding_scarce``, when the whole mix (CPU-only pods included) asks more CPU per GPU milli than
the fleet has, CPU runs out before GPUs do: a free GPU is then served only if it keeps the whole mix's
CPU per GPU milli, since the CPU-only pods land beside the GPUs too, and stranding counts at that rate.
With ``scarcity``, each typical GPU pod weighs by how few nodes can take it as well as by how often it comes: its
popularity times the fleet's GPU nodes over the nodes with enough CPU, memory and GPUs for it when empty (GPU
models aside: ``models`` weighs those), renormalised. FGD weighs by popularity alone, so a rare pod that only a
handful of large nodes can host (an 8-GPU pod asking 120 CPUs) counts for little, and smaller pods that fit
anywhere break exactly those nodes when they fragment them a little less than elsewhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

import numpy as np

from .model import GPU_MILLI
from .snapshot import Snapshot

K = TypeVar("K")
T = TypeVar("T")


@dataclass(frozen=True)
class TypicalPod:
    """One typical pod shape and its popularity (popularities of a mix sum to 1)."""

    cpu_milli: int
    gpu_milli: int  # per GPU; 0 for CPU-only pods
    gpu_count: int
    gpu_models: tuple[str, ...] = ()
    popularity: float = 0.0
    memory_mib: int = 0


def covering(ranked: Iterable[tuple[K, float]], total: float, coverage: float,
             limit: int | None = None) -> list[tuple[K, float]]:
    """Returns the heads of ``ranked`` (heaviest first) until they weigh ``coverage`` of ``total`` (at most
    ``limit`` of them): the paper's rule for which shapes are typical."""
    kept, covered = [], 0.0
    for key, weight in ranked:
        if covered >= coverage * total or (limit is not None and len(kept) == limit):
            break
        kept.append((key, weight))
        covered += weight
    return kept


def typical_pods(shapes: Iterable[tuple], coverage: float = 0.95) -> tuple[TypicalPod, ...]:
    """Return the most common (cpu, gpu milli, gpu count, models) shapes covering ``coverage`` of pods.

    A shape may carry the pod's memory MiB as a fifth element: shapes are still keyed by the first four (the
    paper's), and each kept shape's memory is the mean over its pods (0 without). Popularities are renormalised
    over the kept shapes; ties in count keep first-seen order.
    """
    counts: Counter = Counter()
    memory: Counter = Counter()
    for s in shapes:
        counts[s[:4]] += 1
        memory[s[:4]] += s[4] if len(s) > 4 else 0
    kept = covering(counts.most_common(), sum(counts.values()), coverage)
    covered = sum(n for _, n in kept)
    return tuple(TypicalPod(cpu_milli=c, gpu_milli=m, gpu_count=k, gpu_models=models, popularity=n / covered,
                            memory_mib=round(memory[(c, m, k, models)] / n))
                 for (c, m, k, models), n in kept)


class FragmentationModel:
    """Typical pods as arrays, for vectorised fragmentation over many nodes at once."""

    def __init__(self, pods: tuple[TypicalPod, ...], stranding: bool = False, models: bool = False,
                 stranding_whole: bool = False, stranding_scarce: bool = False, scarcity: bool = False) -> None:
        self.pods = pods  # the typical pod mix
        self.stranding = stranding  # also count GPU milli stranded by too little CPU / memory
        self.stranding_whole = stranding_whole  # ... except on a node a typical GPU pod that fits would take whole
        self.stranding_scarce = stranding_scarce  # ... at the whole mix's CPU rate where the fleet is short of CPU
        self.models = models  # weigh each node by the typical pods that accept its GPU model only
        self.scarcity = scarcity  # weigh each typical GPU pod by how few nodes can host it, too
        self.cpu = np.array([p.cpu_milli for p in pods], np.int64)[:, None]  # (M, 1)
        self.mem = np.array([p.memory_mib for p in pods], np.int64)[:, None]
        self.milli = np.array([p.gpu_milli for p in pods], np.int64)[:, None, None]  # (M, 1, 1)
        self.count = np.array([p.gpu_count for p in pods], np.int64)[:, None]
        self.weight = np.array([p.popularity for p in pods], np.float64)  # (M,)
        self.cpu_only = (self.milli[:, :, 0] == 0)  # (M, 1)
        millis = sorted({p.gpu_milli for p in pods})
        self.millis = np.array(millis, np.int64)[:, None, None]  # (U, 1, 1): distinct per-GPU sizes of the mix
        self.milli_row = np.array([millis.index(p.gpu_milli) for p in pods], np.int64)  # (M,): pod -> size row
        # what depends on the fleet's nodes only, per term: ((snapshot id, static epoch), value)
        self._fleet: dict[str, tuple[tuple[int, int], object]] = {}
        # CPU and memory per GPU milli of the mix's GPU pods on average, and CPU of the whole mix (CPU-only pods too)
        self.cpu_per_milli, self.mem_per_milli, self.mix_cpu_per_milli = _per_gpu_milli(pods)

    def _per_fleet(self, term: str, snap: Snapshot, compute: Callable[[Snapshot], T]) -> T:
        """Return ``compute(snap)``, computed again only when the snapshot or its static epoch (its nodes) changed."""
        seen = (id(snap), snap.static_epoch)
        hit = self._fleet.get(term)
        if hit is None or hit[0] != seen:
            hit = self._fleet[term] = (seen, compute(snap))
        return hit[1]  # type: ignore[return-value]

    def model_ok(self, snap: Snapshot) -> np.ndarray:
        """Return (M, slots): whether each typical pod accepts each node's GPU model."""
        return self._per_fleet("model_ok", snap, self._model_ok)

    def _model_ok(self, snap: Snapshot) -> np.ndarray:
        rows = []
        for p in self.pods:
            if p.gpu_models:
                ids = [snap.lookup("model", m) for m in p.gpu_models]
                rows.append(np.isin(snap.model[: snap.size], ids))
            else:
                rows.append(np.ones(snap.size, bool))
        return np.array(rows, bool).reshape(len(self.pods), snap.size)

    def cpu_rate(self, snap: Snapshot) -> float:
        """Return the CPU milli per free GPU milli that stranding reserves on ``snap``'s nodes: the mix's GPU pods'
        average, or with ``stranding_scarce`` the whole mix's where that is more than the fleet has per GPU."""
        return self._per_fleet("cpu_rate", snap, self._cpu_rate) if self.stranding_scarce else self.cpu_per_milli

    def _cpu_rate(self, snap: Snapshot) -> float:
        live = snap.live[: snap.size]
        gpu = float(snap.gpu_cnt[: snap.size][live].sum()) * GPU_MILLI
        fleet = float(snap.cpu_cap[: snap.size][live].sum()) / gpu if gpu else np.inf
        return self.mix_cpu_per_milli if self.mix_cpu_per_milli > fleet else self.cpu_per_milli

    def weights(self, snap: Snapshot) -> np.ndarray:
        """Return (M,): each typical pod's weight on ``snap``'s fleet: its popularity, or with ``scarcity`` its
        popularity times the live GPU nodes over those that could host it empty (a GPU pod no node can host, and
        a CPU-only pod, keep their popularity), renormalised to sum as the popularities do."""
        return self._per_fleet("weights", snap, self._scarcity_weights) if self.scarcity else self.weight

    def _scarcity_weights(self, snap: Snapshot) -> np.ndarray:
        n = snap.size
        gpu_nodes = snap.live[:n] & (snap.gpu_cnt[:n] > 0)
        hosts = ((snap.cpu_cap[None, :n] >= self.cpu) & (snap.mem_cap[None, :n] >= self.mem)
                 & (snap.gpu_cnt[None, :n] >= self.count) & gpu_nodes[None, :]).sum(axis=1)
        factor = np.where(self.cpu_only[:, 0] | (hosts == 0), 1.0, gpu_nodes.sum() / np.maximum(hosts, 1))
        scaled = self.weight * factor
        return scaled * (self.weight.sum() / scaled.sum()) if scaled.sum() > 0 else self.weight

    def fragmentation(self, left: np.ndarray, cpu_free: np.ndarray, mem_free: np.ndarray,
                      model_ok: np.ndarray, cpu_rate: float | None = None,
                      weight: np.ndarray | None = None) -> np.ndarray:
        """Return the expected fragmented GPU milli of each node (rows of ``left``: milli per GPU); stranding
        reserves ``cpu_rate`` CPU milli per free GPU milli (the mix's GPU pods' average if None); ``weight``: the
        typical pods' weights (``weights(snap)``; their popularities if None)."""
        usable, small_milli = self._per_size(left)
        return self._combine(usable, small_milli, left.sum(axis=1), cpu_free, mem_free, model_ok, cpu_rate, weight)

    def fragmentation_each_gpu(self, left: np.ndarray, gpu_milli: int, cpu_free: np.ndarray,
                               mem_free: np.ndarray, model_ok: np.ndarray,
                               cpu_rate: float | None = None, weight: np.ndarray | None = None) -> np.ndarray:
        """Return (G, n): each node's fragmentation once a shared pod took GPU g (inf where it does not fit).

        ``cpu_free`` and ``mem_free`` are what is left after the pod. Only GPU g changes, so the per-size
        counts are updated for that one GPU instead of recounted over all of them.
        """
        usable, small_milli = self._per_size(left)  # (U, n)
        old = left.T[None, :, :]  # (1, G, n)
        new = old - gpu_milli
        u = self.millis
        usable_g = usable[:, None, :] - (old >= u) + (new >= u)  # (U, G, n)
        small_g = small_milli[:, None, :] - old * (old < u) + new * (new < u)
        g, n = left.shape[1], left.shape[0]
        total = np.tile(left.sum(axis=1) - gpu_milli, g)
        after = self._combine(usable_g.reshape(len(u), g * n), small_g.reshape(len(u), g * n), total,
                              np.tile(cpu_free, g), np.tile(mem_free, g), np.tile(model_ok, (1, g)), cpu_rate, weight)
        return np.where((left >= gpu_milli).T, after.reshape(g, n), np.inf)

    def _per_size(self, left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return, per distinct GPU size of the mix and node, (GPUs big enough, free milli on GPUs too small)."""
        small = left[None, :, :] < self.millis  # (U, n, G)
        return left.shape[1] - small.sum(axis=2), (small * left[None, :, :]).sum(axis=2)

    def _combine(self, usable: np.ndarray, small_milli: np.ndarray, total: np.ndarray, cpu_free: np.ndarray,
                 mem_free: np.ndarray, model_ok: np.ndarray, cpu_rate: float | None,
                 weight: np.ndarray | None = None) -> np.ndarray:
        weight = self.weight if weight is None else weight
        usable, small_milli = usable[self.milli_row], small_milli[self.milli_row]  # (M, n): per pod
        fit = (usable >= self.count) & (cpu_free[None, :] >= self.cpu) & (mem_free[None, :] >= self.mem) & model_ok
        frag = np.where(fit & ~self.cpu_only, small_milli, total[None, :])
        out = self.by_model(frag, total, model_ok, weight) if self.models else weight @ frag
        if not self.stranding:
            return out
        stranded = self.stranded(total, cpu_free, mem_free, cpu_rate)
        if self.stranding_whole:  # a typical GPU pod that fits takes every free GPU: none is stranded
            whole = fit & ~self.cpu_only & (self.count * self.milli[:, :, 0] >= total[None, :]) & (total > 0)
            stranded = np.where(whole.any(axis=0), 0.0, stranded)
        return out + stranded

    def by_model(self, frag: np.ndarray, total: np.ndarray, model_ok: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Return each node's fragmentation expected by the typical pods that accept its GPU model.

        Plain FGD counts all of a node's free GPU as fragmented for every typical pod that refuses its model,
        so the fewer pods may use a model, the more a flexible pod "defragments" by filling it, even when
        that model's few GPUs are all its constrained pods can have. Here a pod that may never use a node
        does not weigh on it: the mix is renormalised over the pods that accept the node's model. A GPU no
        typical pod may use is all fragment (``total``): nothing placed there changes that.
        """
        ok = model_ok.astype(np.float64) * weight[:, None]  # (M, n)
        accept = ok.sum(axis=0)
        mine = (ok * frag).sum(axis=0)
        return np.where(accept > 0, mine / np.maximum(accept, 1e-12), total)

    def stranded(self, total: np.ndarray, cpu_free: np.ndarray, mem_free: np.ndarray,
                 cpu_rate: float | None = None) -> np.ndarray:
        """Return the free GPU milli of each node beyond what its free CPU and memory can serve (``cpu_rate``: CPU
        milli a GPU milli needs, the mix's GPU pods' average if None)."""
        reach = np.full(len(total), np.inf)
        rate = self.cpu_per_milli if cpu_rate is None else cpu_rate
        if rate > 0:
            reach = np.minimum(reach, cpu_free / rate)
        if self.mem_per_milli > 0:
            reach = np.minimum(reach, mem_free / self.mem_per_milli)
        return np.maximum(total - reach, 0.0)


def _per_gpu_milli(pods: tuple[TypicalPod, ...]) -> tuple[float, float, float]:
    """Return the popularity-weighted CPU milli and memory MiB per GPU milli of the GPU pods in a mix, and the CPU
    milli per GPU milli of the whole mix, CPU-only pods included (all 0 without GPU pods)."""
    gpu = [p for p in pods if p.gpu_count and p.gpu_milli]
    milli = sum(p.popularity * p.gpu_count * p.gpu_milli for p in gpu)
    if milli <= 0:
        return 0.0, 0.0, 0.0
    return (sum(p.popularity * p.cpu_milli for p in gpu) / milli,
            sum(p.popularity * p.memory_mib for p in gpu) / milli,
            sum(p.popularity * p.cpu_milli for p in pods) / milli)


def after_placement(left: np.ndarray, gpu_count: int, gpu_milli: int) -> np.ndarray:
    """Return the per-GPU remaining milli after one pod lands on each node (same GPU choice as bind)."""
    out = left.copy()
    if gpu_count == 0:
        return out
    if gpu_milli >= GPU_MILLI:
        full = out == GPU_MILLI
        take = full & (np.cumsum(full, axis=1) <= gpu_count)
        out[take] = 0
        return out
    fits = np.where(out >= gpu_milli, out, GPU_MILLI + 1)
    col = np.argmin(fits, axis=1)
    rows = np.arange(len(out))
    ok = out[rows, col] >= gpu_milli
    out[rows[ok], col[ok]] -= gpu_milli
    return out
