"""Placing a workload: on its flavor's one cluster as a gang, or, when the flavor spans several, on the cluster
chosen by fit, then price, then locality (a gang never spans clusters)."""

from __future__ import annotations

from .gang import as_policy, place_gang
from .model import Workload
from .multicluster import place_across_clusters
from .outcomes import PlacementResult
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot


def place(snapshot: Snapshot, workload: Workload, policy: PlacementPolicy | Strategy = Strategy.BINPACK,
          *, now: float = 0.0, commit: bool = True) -> PlacementResult:
    """Place a whole workload as one gang and return assignments or the reasons it does not fit.

    With ``commit=False`` this is a dry run: the snapshot is left exactly as it was.
    """
    policy = as_policy(policy)
    if len(snapshot.cluster_names(workload.clusters, workload.pools)) > 1:
        return place_across_clusters(snapshot, workload, policy, now=now, commit=commit)
    return place_gang(snapshot, workload, policy, now=now, commit=commit)
