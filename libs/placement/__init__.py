"""Pure placement core: snapshot, filters, scorers, gang, topology and preemption victims.

No I/O and no clocks of its own: a service, a benchmark and a discrete-event replay all call
the same functions on a ``Snapshot`` and get plain data back.
"""

from .cycle import CycleDecision, run_cycle
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
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot

__all__ = [
    "CycleDecision", "PreemptionOutcome", "PreemptionPlan", "Victim", "find_preemption_targets",
    "place_across_clusters", "run_cycle", "GPU_MILLI", "AffinityOperator", "BoundPod", "NodeDiagnosis", "NodeSelectorRequirement", "NodeSpec",
    "PlacementOutcome", "PlacementPolicy", "PlacementResult", "PodAssignment", "PodSet", "PodSetFailure",
    "Reason", "Snapshot", "Strategy", "Taint", "TaintEffect", "Toleration", "Topology", "TopologyLevel",
    "TopologyMode", "TopologyRequest", "TypicalPod", "Workload", "gpu_models_from_spec", "place",
    "typical_pods",
]
