"""Choosing a cluster when the assigned flavor spans several: fit, then price, then locality.

A gang never spans clusters. Each candidate cluster gets a dry-run placement; among those that
fit, the best outcome wins, then the lowest hourly price of the capacity used, then the
workload's preferred-cluster order, then the cluster name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .gang import as_policy, place_gang
from .model import GPU_MILLI, Workload
from .outcomes import PlacementOutcome, PlacementResult
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot


@dataclass(frozen=True)
class ClusterOption:
    """One cluster's dry-run result and what it would cost per hour."""

    cluster: str
    result: PlacementResult
    hourly_price: float


def placement_price(snap: Snapshot, result: PlacementResult) -> float:
    """Return the hourly price of the node shares a placement uses (GPU share, else CPU share)."""
    total = 0.0
    for a in result.assignments:
        spec = snap.node_spec(a.node)
        pod = snap.pods.get(a.pod_id)
        if spec.gpu_count and a.gpus:
            share = sum(m for _, m in a.gpus) / (spec.gpu_count * GPU_MILLI)
        else:
            cpu = pod[1].cpu_milli if pod else 0
            share = cpu / max(spec.cpu_milli, 1)
        total += spec.price_per_hour * share
    return total


def cluster_options(snap: Snapshot, workload: Workload, policy: PlacementPolicy, now: float) -> list[ClusterOption]:
    """Return a dry-run option per candidate cluster (the flavor's, or every cluster known)."""
    clusters = snap.cluster_names(workload.clusters, workload.pools)
    options = []
    for cluster in clusters:
        token = snap.checkpoint()
        try:
            result = place_gang(snap, workload, policy, now=now, clusters=(cluster,))
            price = placement_price(snap, result)
        finally:
            snap.rollback(token)
        options.append(ClusterOption(cluster, result, price))
    return options


def place_across_clusters(snap: Snapshot, workload: Workload,
                          policy: PlacementPolicy | Strategy = Strategy.BINPACK, *, now: float = 0.0,
                          commit: bool = True) -> PlacementResult:
    """Place a workload in the best cluster (fit, then price, then locality); or say why none fits."""
    policy = as_policy(policy)
    options = cluster_options(snap, workload, policy, now)
    fitting = [o for o in options if o.result.placed]
    if not fitting:
        failures = tuple(f for o in options for f in o.result.failures)
        return PlacementResult(workload.id, PlacementOutcome.NO_FIT, (), failures)
    rank = {c: i for i, c in enumerate(workload.preferred_clusters)}
    best = min(fitting, key=lambda o: (-int(o.result.outcome), round(o.hourly_price, 6),
                                       rank.get(o.cluster, len(rank)), o.cluster))
    result = place_gang(snap, workload, policy, now=now, commit=commit, clusters=(best.cluster,))
    return replace(result, why_cluster=why_cluster(best, options, rank))


def why_cluster(best: ClusterOption, options: list[ClusterOption], rank: dict[str, int]) -> str:
    """Says why ``best`` won: what decided it (fit, price or locality), then every other candidate's standing."""
    others = [o for o in options if o.cluster != best.cluster]
    fitting = [o for o in others if o.result.placed]
    if not fitting:
        decided = "the only cluster where it fits"
    elif any(int(o.result.outcome) < int(best.result.outcome) for o in fitting):
        decided = "the only cluster where it fits whole"
    elif any(round(o.hourly_price, 6) > round(best.hourly_price, 6) for o in fitting):
        decided = "the cheapest cluster where it fits"
    elif best.cluster in rank:
        decided = "the workload's preferred cluster among equally priced fits"
    else:
        decided = "first by name among equally priced fits"
    standing = [f"{o.cluster} ${o.hourly_price:,.2f}/h" if o.result.placed else
                f"{o.cluster} does not fit ({o.result.message})" for o in others]
    return f"{best.cluster} (${best.hourly_price:,.2f}/h): {decided}" + (f"; {'; '.join(standing)}" if standing else "")
