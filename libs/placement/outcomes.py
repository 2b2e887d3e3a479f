"""Outcomes and reasons: every "no" says why, per filter, aggregated over nodes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class PlacementOutcome(IntEnum):
    """Ordered outcomes of placing one workload (higher is better, Kueue-style)."""

    NO_FIT = 0
    """Nothing was placed; ``reasons`` says why."""
    PARTIAL_FIT = 1
    """An elastic gang was placed with fewer pods than asked, but at least its minimum."""
    FIT = 2
    """Every pod of every pod set was placed."""


class Reason(str, Enum):
    """Reason codes of a rejected node or a failed gang; values are stable machine codes."""

    CLUSTER_MISMATCH = "ClusterMismatch"
    CLUSTER_UNREACHABLE = "ClusterUnreachable"
    NODE_UNHEALTHY = "NodeUnhealthy"
    NODE_CORDONED = "NodeCordoned"
    UNTOLERATED_TAINT = "UntoleratedTaint"
    NODE_SELECTOR_MISMATCH = "NodeSelectorMismatch"
    NODE_AFFINITY_MISMATCH = "NodeAffinityMismatch"
    GPU_MODEL_MISMATCH = "GpuModelMismatch"
    INSUFFICIENT_CPU = "InsufficientCpu"
    INSUFFICIENT_MEMORY = "InsufficientMemory"
    INSUFFICIENT_GPU = "InsufficientGpu"
    TOPOLOGY_NO_DOMAIN = "TopologyNoDomain"
    GANG_INCOMPLETE = "GangIncomplete"


# The one phrase table: how "N nodes ..." reads for each reason. Capacity reasons read two ways: now (free
# capacity, after what is bound) and ever (capacity of the empty node, for "never fits").
_NODE_PHRASES: dict[Reason, str | tuple[str, str]] = {
    Reason.CLUSTER_MISMATCH: "outside the assigned flavor's cluster/pool",
    Reason.CLUSTER_UNREACHABLE: "in an unreachable cluster",
    Reason.NODE_UNHEALTHY: "unhealthy",
    Reason.NODE_CORDONED: "cordoned",
    Reason.UNTOLERATED_TAINT: "have an untolerated taint",
    Reason.NODE_SELECTOR_MISMATCH: "don't match the node selector",
    Reason.NODE_AFFINITY_MISMATCH: "don't match the required node affinity",
    Reason.GPU_MODEL_MISMATCH: "lack GPU model {models}",
    Reason.INSUFFICIENT_CPU: ("lack free CPU", "have too little CPU"),
    Reason.INSUFFICIENT_MEMORY: ("lack free memory", "have too little memory"),
    Reason.INSUFFICIENT_GPU: ("lack free GPU", "have too few GPUs"),
}


def node_phrase(reason: Reason, gpu_models: tuple[str, ...] = (), *, ever: bool = False) -> str:
    """Return how a count of rejected nodes reads for ``reason``, e.g. "lack GPU model H100"; ``ever``: even
    when the node is empty (never fits), not just now."""
    phrase = _NODE_PHRASES[reason]
    if isinstance(phrase, tuple):
        phrase = phrase[1] if ever else phrase[0]
    return phrase.format(models="|".join(gpu_models))


@dataclass(frozen=True)
class NodeDiagnosis:
    """Why the nodes were rejected for one pod: each node counted once, under its first failing filter."""

    total: int
    counts: tuple[tuple[Reason, int], ...]
    gpu_models: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """Return e.g. "0/5000 nodes: 3200 lack GPU model H100, 1800 cordoned"."""
        parts = [f"{n} {node_phrase(r, self.gpu_models)}" for r, n in self.counts if n]
        return f"0/{self.total} nodes: " + (", ".join(parts) if parts else "no nodes")


@dataclass(frozen=True)
class PodAssignment:
    """One pod placed on one node, with the exact GPUs (index, milli) it takes."""

    pod_id: str
    pod_set: str
    node: str
    gpus: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class PodSetFailure:
    """Why one pod set could not be placed (or placed only partly)."""

    pod_set: str
    placed: int
    wanted: int
    reason: Reason
    message: str
    diagnosis: NodeDiagnosis | None = None


@dataclass(frozen=True)
class PlacementResult:
    """Plain-data outcome of placing one workload: assignments, or the reasons it did not fit."""

    workload_id: str
    outcome: PlacementOutcome
    assignments: tuple[PodAssignment, ...] = ()
    failures: tuple[PodSetFailure, ...] = ()
    cluster: str | None = None
    why_cluster: str = ""  # when the flavor spans clusters: why this one (fit, then price, then locality)

    @property
    def placed(self) -> bool:
        """Return whether the gang was admitted onto nodes (FIT or PARTIAL_FIT)."""
        return self.outcome > PlacementOutcome.NO_FIT

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Return the reason codes of every failing pod set."""
        return tuple(f.reason for f in self.failures)

    @property
    def message(self) -> str:
        """Return a human summary: the assignment count, or each pod set's failure."""
        if self.outcome == PlacementOutcome.FIT:
            return f"placed {len(self.assignments)} pods"
        return "; ".join(f"{f.pod_set}: {f.message}" for f in self.failures)
