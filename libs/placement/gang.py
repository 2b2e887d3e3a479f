"""Gang placement: every pod set of a workload is placed, or none is (elastic minimums allowed).

``place`` is the per-workload entry point a service or a discrete-event replay calls:
filter → score → (topology) → bind on a trial of the snapshot → commit or roll back.
"""

from __future__ import annotations

import numpy as np

from .equivalence import capacity_copies, scores_for
from .filters import Shape, StaticKey, diagnose, shape_of, static_key
from .model import BoundPod, PodSet, Workload
from .outcomes import PlacementOutcome, PlacementResult, PodAssignment, PodSetFailure, Reason
from .scoring import PlacementPolicy, Scorer, Strategy
from .snapshot import Snapshot
from .topology import choose_domain

_NEG_INF = -np.inf


def scorer_for(snap: Snapshot, strategy: Strategy, policy: PlacementPolicy) -> Scorer:
    """Return the (cached) scorer of ``strategy`` under ``policy``."""
    key = Scorer.key_of(strategy, policy)
    scorers = snap.memo.setdefault("scorers", {})
    found = scorers.get(key)
    if found is None:
        found = scorers[key] = Scorer(strategy, policy)
    return found


def as_policy(policy: PlacementPolicy | Strategy) -> PlacementPolicy:
    """Return ``policy`` as a PlacementPolicy (a bare Strategy becomes the default for all pools)."""
    return PlacementPolicy(default=policy) if isinstance(policy, Strategy) else policy


def place_gang(snapshot: Snapshot, workload: Workload, policy: PlacementPolicy | Strategy = Strategy.BINPACK,
               *, now: float = 0.0, commit: bool = True, clusters: tuple[str, ...] | None = None) -> PlacementResult:
    """Place a whole workload as one gang and return assignments or the reasons it does not fit. The caller has
    chosen the cluster (``clusters`` narrows the flavor's), or the flavor has one: ``placer.place`` chooses.

    With ``commit=False`` this is a dry run: the snapshot is left exactly as it was.
    """
    policy = as_policy(policy)
    scorer = scorer_for(snapshot, policy.strategy_for(workload), policy)
    token = snapshot.checkpoint()
    assignments: list[PodAssignment] = []
    failures: list[PodSetFailure] = []
    outcome = PlacementOutcome.FIT
    # 1. place pod sets in order on the trial state; later pod sets see earlier ones' usage
    for pod_set in workload.pod_sets:
        placed, failure = place_pod_set(snapshot, workload, pod_set, scorer, now=now, clusters=clusters)
        assignments.extend(placed)
        if failure is not None:
            failures.append(failure)
            outcome = PlacementOutcome.PARTIAL_FIT
        if len(placed) < pod_set.required_count:
            # 2. all or nothing: one short pod set undoes the whole gang
            snapshot.rollback(token)
            return PlacementResult(workload.id, PlacementOutcome.NO_FIT, (), tuple(failures))
    # 3. keep the trial, or undo it for a dry run
    cluster = _cluster_of(snapshot, assignments)
    (snapshot.commit if commit else snapshot.rollback)(token)
    return PlacementResult(workload.id, outcome, tuple(assignments), tuple(failures), cluster)


def _cluster_of(snap: Snapshot, assignments: list[PodAssignment]) -> str | None:
    return snap.node_spec(assignments[0].node).cluster if assignments else None


def place_pod_set(snap: Snapshot, workload: Workload, pod_set: PodSet, scorer: Scorer, *,
                  now: float = 0.0, clusters: tuple[str, ...] | None = None
                  ) -> tuple[list[PodAssignment], PodSetFailure | None]:
    """Bind as many pods of ``pod_set`` as fit (up to count); return them and any shortfall."""
    key, shape = static_key(workload, pod_set, clusters), shape_of(pod_set)
    within, want = None, pod_set.count
    if pod_set.topology is not None:
        scores = scores_for(snap, key, shape, scorer)
        cand = np.flatnonzero(scores > _NEG_INF)
        choice = choose_domain(snap, pod_set.topology, cand, capacity_copies(snap, shape, cand),
                               pod_set.count, pod_set.required_count)
        if choice.slots is None:
            return [], PodSetFailure(pod_set.name, 0, pod_set.count, Reason.TOPOLOGY_NO_DOMAIN, choice.message)
        within, want = choice.slots, choice.want
    fill = _fill_bulk if scorer.monotone and want > 1 else _fill_each
    placed = fill(snap, workload, pod_set, key, shape, scorer, want, within, now)
    if len(placed) == pod_set.count:
        return placed, None
    return placed, _shortfall(snap, pod_set, key, shape, len(placed), within)


def _shortfall(snap: Snapshot, pod_set: PodSet, key: StaticKey, shape: Shape, placed: int,
               within: np.ndarray | None) -> PodSetFailure:
    mask = None
    if within is not None:
        mask = np.zeros(snap.size, bool)
        mask[within] = True
    diagnosis = diagnose(snap, key, shape, mask)
    top = max(diagnosis.counts, key=lambda rc: rc[1])[0] if diagnosis.counts else Reason.GANG_INCOMPLETE
    reason = Reason.GANG_INCOMPLETE if placed else top
    message = f"{placed}/{pod_set.count} pods fit (need {pod_set.required_count}); {diagnosis.message}"
    return PodSetFailure(pod_set.name, placed, pod_set.count, reason, message, diagnosis)


def _bind(snap: Snapshot, workload: Workload, pod_set: PodSet, shape: Shape, scorer: Scorer, slot: int,
          i: int, now: float) -> PodAssignment:
    spec = snap.specs[slot]
    assert spec is not None
    gpus = scorer.choose_gpus(snap, shape, slot)
    pod_id = f"{workload.id}/{pod_set.name}/{i}"
    snap.bind(BoundPod(pod_id, workload.id, spec.name, shape.cpu_milli, shape.memory_mib, gpus,
                       workload.priority, now))
    return PodAssignment(pod_id, pod_set.name, spec.name, gpus)


def _fill_each(snap: Snapshot, workload: Workload, pod_set: PodSet, key: StaticKey, shape: Shape,
               scorer: Scorer, want: int, within: np.ndarray | None, now: float) -> list[PodAssignment]:
    """Place pods one at a time on the best-scoring node, rescoring the changed node each time."""
    out = []
    for i in range(want):
        scores = scores_for(snap, key, shape, scorer)
        if within is None:
            slot = int(np.argmax(scores))
            best = scores[slot]
        else:
            sub = scores[within]
            k = int(np.argmax(sub))
            slot, best = int(within[k]), sub[k]
        if best == _NEG_INF:
            break
        out.append(_bind(snap, workload, pod_set, shape, scorer, slot, i, now))
    return out


def _fill_bulk(snap: Snapshot, workload: Workload, pod_set: PodSet, key: StaticKey, shape: Shape,
               scorer: Scorer, want: int, within: np.ndarray | None, now: float) -> list[PodAssignment]:
    """Fill the best node to capacity, then the next: equal to one-by-one for monotone scorers."""
    scores = scores_for(snap, key, shape, scorer)
    cand = np.flatnonzero(scores > _NEG_INF) if within is None else within[scores[within] > _NEG_INF]
    order = cand[np.argsort(-scores[cand], kind="stable")]
    copies = capacity_copies(snap, shape, order)
    last = int(np.searchsorted(np.cumsum(copies), want)) + 1
    out: list[PodAssignment] = []
    for slot, n in zip(order[:last].tolist(), copies[:last].tolist()):
        for _ in range(min(n, want - len(out))):
            out.append(_bind(snap, workload, pod_set, shape, scorer, slot, len(out), now))
    return out
