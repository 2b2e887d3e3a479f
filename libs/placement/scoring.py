"""Scoring strategies, selectable per pool: higher score wins; ties go to the lower node slot.

Every scorer is vectorised over an array of node slots and only ever sees feasible nodes.
``monotone`` scorers keep preferring a node as it fills up, so identical pods may be placed
in bulk (fill the best node to capacity, then the next) with the same result as one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

import numpy as np

from .fgd import FragmentationModel, TypicalPod, after_placement
from .filters import Shape
from .model import GPU_MILLI, Workload
from .snapshot import Snapshot


class Strategy(str, Enum):
    """Node scoring strategies."""

    BINPACK = "binpack"  # most-allocated (kube MostAllocated): fill nodes up
    SPREAD = "spread"  # least-allocated (kube LeastAllocated): balance load
    BEST_FIT = "best_fit"  # least leftover CPU and GPU after placement
    FGD = "fgd"  # least increase of GPU fragmentation for the typical pod mix


@dataclass(frozen=True)
class PlacementPolicy:
    """Which strategy each pool uses, and the typical pod mix for FGD.

    ``fgd_quantized`` reproduces the FGD simulator's integer score int(100·sigmoid(-Δ/1000));
    ``fgd_tiebreak`` then sends a CPU-only pod, among equal FGD scores, to the node with the least
    free GPU (its CPU is worth least to GPU pods), before falling back to node order.
    ``fgd_stranding`` adds to the fragmentation the free GPU milli a node's remaining CPU (and
    memory) cannot serve at the typical GPU pods' CPU per GPU milli (see ``fgd.py``).
    ``fgd_stranding_whole``: no GPU is stranded on a node where a typical GPU pod that fits would take all of
    them (``fgd.py``).
    ``fgd_packing`` (milli, 0 = off) makes a node whose CPU is fully allocated worth that much
    fragmentation: the score is ``-delta + fgd_packing * cpu_used``, ``cpu_used`` being the node's
    allocated CPU share after placement, so among near-equal fragmentation the fuller node wins
    on purpose, as ties to a fixed node order did by accident under ``fgd_quantized`` (ADR 0017).
    ``fgd_packing_gpus``: the packing key's ``cpu_used`` becomes the mean of the node's allocated CPU and GPU shares
    (its CPU share alone on a node without GPUs), so among near-equal fragmentation the node with fewer free GPUs
    wins too, keeping empty nodes whole for pods that need a whole node even when such pods are too rare to be
    typical (the openb replay with departures, docs/benchmarks.md).
    ``fgd_stranding_scarce``: where the whole mix, CPU-only pods included, asks more CPU per GPU than the fleet has,
    stranding reserves CPU at that rate rather than at the GPU pods' own (``fgd.py``; ADR 0017).
    ``fgd_models`` weighs a node only by the typical pods that accept its GPU model (``fgd.py``).
    ``fgd_scarcity``: each typical GPU pod weighs by how few of the fleet's GPU nodes could host it as well as by
    its popularity, so the large nodes a rare large pod needs are not broken for pods that fit anywhere
    (``fgd.py``; ADR 0017).
    ``fgd_packing_constrained`` (milli, 0 = off) adds to ``fgd_packing`` that much times the share of the typical
    GPU pods constrained to a GPU model (``constrained_share``): when pods that accept one model only are common,
    the fleet behaves as several smaller ones, one per model, and keeping nodes full matters more (ADR 0017).
    ``learn_typical``: the scheduler replaces ``typical_pods`` by the mix it has seen (``pod_mix.py``: weights
    halve every ``typical_half_life_s``) once it has seen ``typical_min_pods`` pods; until then, and in callers
    that learn nothing (benchmarks, the replay), ``typical_pods`` is the mix.
    """

    default: Strategy = Strategy.BINPACK
    per_pool: Mapping[str, Strategy] = field(default_factory=dict)
    typical_pods: tuple[TypicalPod, ...] = ()
    fgd_quantized: bool = False
    fgd_tiebreak: bool = False
    fgd_stranding: bool = False
    fgd_stranding_whole: bool = False
    fgd_stranding_scarce: bool = False
    fgd_packing: float = 0.0
    fgd_packing_gpus: bool = False
    fgd_models: bool = False
    fgd_packing_constrained: float = 0.0
    fgd_scarcity: bool = False
    learn_typical: bool = False
    typical_half_life_s: float = 86_400.0
    typical_min_pods: int = 200

    def strategy_for(self, workload: Workload) -> Strategy:
        """Return the strategy of the workload's assigned pool (or the default)."""
        if len(workload.pools) == 1:
            return self.per_pool.get(workload.pools[0], self.default)
        return self.default


def _used_fraction(snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
    cpu = (snap.cpu_used[idx] + shape.cpu_milli) / np.maximum(snap.cpu_cap[idx], 1)
    mem = (snap.mem_used[idx] + shape.memory_mib) / np.maximum(snap.mem_cap[idx], 1)
    gcap = snap.gpu_cnt[idx] * GPU_MILLI
    if not gcap.any():
        return (cpu + mem) / 2
    gused = gcap - snap.gpu_free[idx] + shape.gpu_count * shape.gpu_milli
    has_gpu = gcap > 0
    gpu = np.where(has_gpu, gused / np.maximum(gcap, 1), 0.0)
    return (cpu + mem + gpu) / (2 + has_gpu)


def _cpu_used_after(snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
    """Return each node's allocated CPU share once the pod is placed (FGD's packing key)."""
    return (snap.cpu_used[idx] + shape.cpu_milli) / np.maximum(snap.cpu_cap[idx], 1)


def _cpu_and_gpu_used_after(snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
    """Return the mean of each node's allocated CPU and GPU shares once the pod is placed (its CPU share alone on a
    node without GPUs): the packing key with ``fgd_packing_gpus``."""
    cpu = _cpu_used_after(snap, shape, idx)
    gcap = snap.gpu_cnt[idx] * GPU_MILLI
    gused = gcap - snap.gpu_free[idx] + shape.gpu_count * shape.gpu_milli
    return 0.5 * cpu + 0.5 * np.where(gcap > 0, gused / np.maximum(gcap, 1), cpu)


def _leftover(snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
    n = snap.size
    max_cpu = max(int(snap.cpu_cap[:n].max(initial=0)), 1)
    max_gpu = max(int(snap.gpu_cnt[:n].max(initial=0)), 1) * GPU_MILLI
    cpu_left = snap.cpu_cap[idx] - snap.cpu_used[idx] - shape.cpu_milli
    gpu_left = snap.gpu_free[idx] - shape.gpu_count * shape.gpu_milli
    return 0.5 * cpu_left / max_cpu + 0.5 * gpu_left / max_gpu


def constrained_share(pods: tuple[TypicalPod, ...]) -> float:
    """Return the popularity share of a mix's GPU pods that accept some GPU models only (0 without GPU pods)."""
    gpu = [p for p in pods if p.gpu_count and p.gpu_milli]
    total = sum(p.popularity for p in gpu)
    return sum(p.popularity for p in gpu if p.gpu_models) / total if total > 0 else 0.0


class Scorer:
    """A strategy bound to its parameters; ``key`` identifies it in score caches."""

    def __init__(self, strategy: Strategy, policy: PlacementPolicy | None = None) -> None:
        policy = policy or PlacementPolicy()
        self.strategy = strategy  # which scoring rule
        self.monotone = strategy in (Strategy.BINPACK, Strategy.BEST_FIT)  # bulk fill allowed
        self.quantized = policy.fgd_quantized  # simulator-style integer FGD scores
        self.tiebreak = policy.fgd_tiebreak  # CPU-only pods to GPU-poor nodes among equal FGD scores
        # fragmentation milli a full node is worth (0 = no packing key)
        self.packing = policy.fgd_packing + policy.fgd_packing_constrained * constrained_share(policy.typical_pods)
        self.packed = _cpu_and_gpu_used_after if policy.fgd_packing_gpus else _cpu_used_after  # how full a node is
        self.frag = (FragmentationModel(policy.typical_pods, policy.fgd_stranding, policy.fgd_models,
                                        policy.fgd_stranding_whole, policy.fgd_stranding_scarce, policy.fgd_scarcity)
                     if strategy == Strategy.FGD else None)
        self.key = self.key_of(strategy, policy)

    @staticmethod
    def key_of(strategy: Strategy, policy: PlacementPolicy) -> tuple:
        """Return what makes two scorers score alike: the cache key of a scorer (and of its score arrays)."""
        return (strategy, policy.typical_pods, policy.fgd_quantized, policy.fgd_tiebreak, policy.fgd_stranding,
                policy.fgd_stranding_whole, policy.fgd_packing, policy.fgd_packing_gpus, policy.fgd_models,
                policy.fgd_packing_constrained, policy.fgd_stranding_scarce, policy.fgd_scarcity)

    def __call__(self, snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
        """Return the score of placing one pod of ``shape`` on each node of ``idx``."""
        if self.strategy == Strategy.BINPACK:
            return _used_fraction(snap, shape, idx)
        if self.strategy == Strategy.SPREAD:
            return -_used_fraction(snap, shape, idx)
        if self.strategy == Strategy.BEST_FIT:
            return -_leftover(snap, shape, idx)
        return self._fgd(snap, shape, idx)

    def _fgd(self, snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
        assert self.frag is not None
        if not self.frag.pods:
            raise ValueError("the FGD strategy needs typical pods in the placement policy")
        score = self._quantize(self._fgd_deltas(snap, shape, idx).min(axis=0))
        if self.tiebreak and shape.gpu_count == 0:  # scale by a fleet-wide constant: caches rescore subsets
            most = int(snap.gpu_cnt[: snap.size].max(initial=0)) * GPU_MILLI
            score = score - 0.5 * snap.gpu_free[idx] / (most + 1)
        if self.packing:
            score = score + self.packing * self.packed(snap, shape, idx)
        return score

    def _quantize(self, delta: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return -delta
        with np.errstate(over="ignore"):
            score = np.floor(100.0 / (1.0 + np.exp(delta / 1000.0)))
        return np.where(np.isinf(delta), -np.inf, score)

    def _fgd_deltas(self, snap: Snapshot, shape: Shape, idx: np.ndarray) -> np.ndarray:
        """Return extra fragmentation (milli) per GPU choice and node, (choices, n); inf = invalid."""
        assert self.frag is not None
        left = snap.gpu_left[idx]
        cpu = snap.cpu_cap[idx] - snap.cpu_used[idx]
        mem = snap.mem_cap[idx] - snap.mem_used[idx]
        model_ok = self.frag.model_ok(snap)[:, idx]
        rate, weight = self.frag.cpu_rate(snap), self.frag.weights(snap)
        before = self.frag.fragmentation(left, cpu, mem, model_ok, rate, weight)
        if shape.gpu_count == 1 and shape.gpu_milli < GPU_MILLI:
            after = self.frag.fragmentation_each_gpu(left, shape.gpu_milli, cpu - shape.cpu_milli,
                                                     mem - shape.memory_mib, model_ok, rate, weight)
            return after - before[None, :]
        after_left = after_placement(left, shape.gpu_count, shape.gpu_milli)
        after = self.frag.fragmentation(after_left, cpu - shape.cpu_milli, mem - shape.memory_mib, model_ok, rate,
                                        weight)
        return (after - before)[None, :]

    def choose_gpus(self, snap: Snapshot, shape: Shape, slot: int) -> tuple[tuple[int, int], ...]:
        """Return the GPUs a pod takes on ``slot``: for FGD and a shared pod, the least fragmenting GPU."""
        if self.frag is None or not (shape.gpu_count == 1 and shape.gpu_milli < GPU_MILLI):
            return snap.choose_gpus(slot, shape.gpu_count, shape.gpu_milli)
        scores = self._quantize(self._fgd_deltas(snap, shape, np.array([slot]))[:, 0])
        return ((int(np.argmax(scores)), shape.gpu_milli),)
