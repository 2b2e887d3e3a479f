"""Node-level preemption: the fewest lower-priority gangs whose eviction lets a workload fit.

``find_preemption_targets`` is pure: it works on trials of the snapshot and leaves it exactly as
it found it. Issuing the evictions is the service's job.

1. eligible victims: whole workloads, all pods below the preemptor's priority, running at least
   ``min_runtime`` seconds, with a pod on a node the preemptor could use;
2. check that evicting all of them would be enough, else give up with a reason;
3. greedily evict the victim that frees the most room for the preemptor's pods (fractional
   pods per victim; ties: lower priority, fewer pods) until a dry-run placement succeeds;
4. reprieve: give back every victim (highest priority first) the placement does not need.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .filters import shape_of, static_key, static_mask
from .gang import as_policy
from .model import BoundPod, Victim, Workload
from .outcomes import PlacementResult
from .placer import place
from .preemption_gain import GainModel
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot


class PreemptionOutcome(IntEnum):
    """Ordered outcomes of a victim search."""

    NO_VICTIMS = 0  # even evicting every eligible victim would not make room
    NOT_NEEDED = 1  # the workload fits without evicting anything
    FOUND = 2  # evicting ``victims`` makes the workload fit


@dataclass(frozen=True)
class PreemptionPlan:
    """Victims to evict and the placement they make possible (computed on a dry run)."""

    workload_id: str
    outcome: PreemptionOutcome
    victims: tuple[Victim, ...] = ()
    placement: PlacementResult | None = None
    message: str = ""


def find_preemption_targets(snapshot: Snapshot, workload: Workload,
                            policy: PlacementPolicy | Strategy = Strategy.BINPACK, *,
                            now: float, min_runtime: float = 0.0) -> PreemptionPlan:
    """Return the smallest set of whole lower-priority gangs to evict so ``workload`` fits."""
    policy = as_policy(policy)
    trial = place(snapshot, workload, policy, now=now, commit=False)
    if trial.placed:
        return PreemptionPlan(workload.id, PreemptionOutcome.NOT_NEEDED, (), trial, "fits without preemption")
    # 1. eligible victims
    eligible = _eligible_nodes(snapshot, workload)
    victims = _candidates(snapshot, workload, eligible, now, min_runtime)
    # 2. cheap necessary check: total free + freeable resources on eligible nodes
    no_room = PreemptionPlan(workload.id, PreemptionOutcome.NO_VICTIMS, (), trial,
                             f"evicting all {len(victims)} eligible lower-priority workloads "
                             f"would not make room; {trial.message}")
    if not _enough_in_total(snapshot, workload, victims, eligible):
        return no_room
    token = snapshot.checkpoint()
    try:
        evicted: dict[str, list[BoundPod]] = {}
        chosen = _greedy(snapshot, workload, policy, victims, eligible, now, evicted)  # 3.
        if chosen is None:
            return no_room
        chosen = _reprieve(snapshot, workload, policy, chosen, now, evicted)  # 4.
        final = place(snapshot, workload, policy, now=now, commit=False)
    finally:
        snapshot.rollback(token)
    return PreemptionPlan(workload.id, PreemptionOutcome.FOUND, tuple(chosen), final,
                          f"evict {len(chosen)} lower-priority workload(s)")


def _eligible_nodes(snap: Snapshot, workload: Workload) -> np.ndarray:
    mask = np.zeros(snap.size, bool)
    for ps in workload.pod_sets:
        mask |= static_mask(snap, static_key(workload, ps))
    return mask


def _candidates(snap: Snapshot, workload: Workload, eligible: np.ndarray, now: float,
                min_runtime: float) -> list[Victim]:
    """Return whole workloads that may be preempted and touch an eligible node."""
    info: dict[str, list] = {}  # workload -> [max priority, first start, touches eligible, pod ids]
    for pod_id, (slot, pod) in snap.pods.items():
        row = info.get(pod.workload_id)
        if row is None:
            row = info[pod.workload_id] = [pod.priority, pod.started_at, False, []]
        row[0], row[1] = max(row[0], pod.priority), min(row[1], pod.started_at)
        row[2] = row[2] or bool(eligible[slot])
        row[3].append(pod_id)
    out = [Victim(wid, prio, tuple(sorted(pods))) for wid, (prio, start, touches, pods) in info.items()
           if touches and prio < workload.priority and now - start >= min_runtime]
    out.sort(key=lambda v: (v.priority, v.workload_id))
    return out


def _enough_in_total(snap: Snapshot, workload: Workload, victims: list[Victim], eligible: np.ndarray) -> bool:
    """Return whether free plus freeable CPU, memory and GPU on eligible nodes cover the request."""
    n = snap.size
    cpu = int((snap.cpu_cap[:n] - snap.cpu_used[:n])[eligible].sum())
    mem = int((snap.mem_cap[:n] - snap.mem_used[:n])[eligible].sum())
    gpu = int(snap.gpu_left[:n][eligible].sum())
    for v in victims:
        for p in v.pods:
            slot, pod = snap.pods[p]
            if eligible[slot]:
                cpu, mem = cpu + pod.cpu_milli, mem + pod.memory_mib
                gpu += sum(m for _, m in pod.gpus)
    want = [sum(ps.count * ps.cpu_milli for ps in workload.pod_sets),
            sum(ps.count * ps.memory_mib for ps in workload.pod_sets),
            sum(ps.count * ps.gpu_count * ps.gpu_milli for ps in workload.pod_sets)]
    return cpu >= want[0] and mem >= want[1] and gpu >= want[2]


def _evict(snap: Snapshot, victim: Victim, evicted: dict[str, list[BoundPod]]) -> None:
    evicted[victim.workload_id] = [snap.unbind(p) for p in victim.pods]


def _greedy(snap: Snapshot, workload: Workload, policy: PlacementPolicy, victims: list[Victim],
            eligible: np.ndarray, now: float, evicted: dict[str, list[BoundPod]]) -> list[Victim] | None:
    """Evict best-gain victims until the workload fits; return them in eviction order (None: never fits)."""
    shape = max((shape_of(ps) for ps in workload.pod_sets), key=lambda s: (s.gpu_count * s.gpu_milli, s.cpu_milli))
    need = sum(ps.count for ps in workload.pod_sets)
    gains = GainModel(snap, shape, eligible, need)
    by_node: dict[int, list[int]] = {}
    for i, v in enumerate(victims):
        for slot in {snap.pods[p][0] for p in v.pods}:
            by_node.setdefault(slot, []).append(i)
    heap = [(-g, v.priority, len(v.pods), i) for i, (v, g) in enumerate(zip(victims, gains.gains(victims)))]
    heapq.heapify(heap)
    stale: set[int] = set()
    chosen: list[Victim] = []
    while heap:
        neg, prio, npods, i = heapq.heappop(heap)
        if i in stale:
            stale.discard(i)
            heapq.heappush(heap, (-gains.gain(victims[i]), prio, npods, i))
            continue
        slots = {snap.pods[p][0] for p in victims[i].pods}
        _evict(snap, victims[i], evicted)
        chosen.append(victims[i])
        gains.refresh(slots)
        for slot in slots:
            stale.update(j for j in by_node[slot] if j != i)
        if (gains.enough() or len(chosen) % 8 == 0 or not heap) and \
                place(snap, workload, policy, now=now, commit=False).placed:
            return chosen
    return None


def _reprieve(snap: Snapshot, workload: Workload, policy: PlacementPolicy, chosen: list[Victim],
              now: float, evicted: dict[str, list[BoundPod]]) -> list[Victim]:
    """Give back victims the placement does not need, highest priority and biggest first."""
    kept = list(chosen)
    for v in sorted(chosen, key=lambda v: (-v.priority, -len(v.pods), v.workload_id)):
        token = snap.checkpoint()
        for pod in evicted[v.workload_id]:
            snap.bind(pod)
        if place(snap, workload, policy, now=now, commit=False).placed:
            snap.commit(token)
            kept.remove(v)
        else:
            snap.rollback(token)
    return kept
