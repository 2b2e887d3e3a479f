"""Pure placement core: snapshot, filters, scorers, gang, topology, preemption victims and the cycle.

No I/O and no clocks of its own: the scheduler service, the benchmarks and the discrete-event replay
all run the same ``schedule`` cycle on a ``Snapshot`` and get plain data back.
"""

from .fgd import TypicalPod, typical_pods
from .multicluster import place_across_clusters
from .model import (
    GPU_MILLI,
    AffinityOperator,
    BoundPod,
    NodeSelectorRequirement,
    NodeSpec,
    PodSet,
    Taint,
    TaintEffect,
    Toleration,
    Topology,
    TopologyLevel,
    TopologyMode,
    TopologyRequest,
    Victim,
    Workload,
    gpu_models_from_spec,
)
from .outcomes import NodeDiagnosis, PlacementOutcome, PlacementResult, PodAssignment, PodSetFailure, Reason
from .placer import place
from .preemption import PreemptionOutcome, PreemptionPlan, find_preemption_targets
from .schedule import CycleResult, Decision, DecisionKind, Waiting, schedule
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot

__all__ = [
    "CycleResult", "Decision", "DecisionKind", "PreemptionOutcome", "PreemptionPlan", "Victim", "Waiting",
    "find_preemption_targets", "place_across_clusters", "schedule", "GPU_MILLI", "AffinityOperator", "BoundPod",
    "NodeDiagnosis", "NodeSelectorRequirement", "NodeSpec",
    "PlacementOutcome", "PlacementPolicy", "PlacementResult", "PodAssignment", "PodSet", "PodSetFailure",
    "Reason", "Snapshot", "Strategy", "Taint", "TaintEffect", "Toleration", "Topology", "TopologyLevel",
    "TopologyMode", "TopologyRequest", "TypicalPod", "Workload", "gpu_models_from_spec", "place",
    "typical_pods",
]
