"""Domain records of the placement core: nodes, pod sets, workloads and bound pods.

All records are frozen dataclasses; change them with ``dataclasses.replace``.
Units: CPU in milli-cores, memory in MiB, GPU sharing in milli-GPU (1000 = one whole GPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Mapping

GPU_MILLI = 1000
CLUSTER_LABEL = "batchyard.dev/cluster"  # the node label naming its cluster; a pod set pinned to one selects on it
"""Milli-units in one whole GPU."""


class TopologyLevel(IntEnum):
    """Topology levels, tightest first; a domain at level L contains domains of lower levels."""

    HOST = 0
    RACK = 1
    BLOCK = 2
    ZONE = 3


class TaintEffect(str, Enum):
    """Kubernetes taint effects; NoSchedule and NoExecute keep new pods away, PreferNoSchedule does not."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


@dataclass(frozen=True)
class Taint:
    """A node taint: pods without a matching toleration are kept off the node."""

    key: str
    value: str = ""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE


@dataclass(frozen=True)
class Toleration:
    """A pod toleration; operator is "Equal" or "Exists"; an empty key with Exists tolerates all."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: TaintEffect | None = None

    def tolerates(self, taint: Taint) -> bool:
        """Return whether this toleration matches ``taint`` (Kubernetes semantics)."""
        if self.effect is not None and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return self.key in ("", taint.key)
        return self.key == taint.key and self.value == taint.value


class AffinityOperator(str, Enum):
    """Operators of a required node-affinity term."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True)
class NodeSelectorRequirement:
    """One required node-affinity requirement (all requirements of a pod set are ANDed)."""

    key: str
    operator: AffinityOperator
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topology:
    """Where a node sits: zone ⊃ block ⊃ rack ⊃ host. Empty host means the node's own name."""

    zone: str = ""
    block: str = ""
    rack: str = ""
    host: str = ""


@dataclass(frozen=True)
class NodeSpec:
    """Static description of one node as reported by a connector (allocatable, not usage)."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpu_count: int = 0
    gpu_model: str = ""
    cluster: str = "default"
    pool: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    topology: Topology = field(default_factory=Topology)
    healthy: bool = True
    cordoned: bool = False
    price_per_hour: float = 0.0


class TopologyMode(str, Enum):
    """Whether a topology request is a hard requirement or a preference."""

    REQUIRED = "required"
    PREFERRED = "preferred"


@dataclass(frozen=True)
class TopologyRequest:
    """Pods of a pod set must (or should) share one domain at ``level``."""

    level: TopologyLevel
    mode: TopologyMode = TopologyMode.REQUIRED


@dataclass(frozen=True)
class PodSet:
    """A group of identical pods of a workload (e.g. the Ray head, or the workers).

    ``gpu_milli`` is per GPU: below 1000 it is a shared fraction of one GPU (then gpu_count is 1).
    ``min_count`` makes the pod set elastic: any count in [min_count, count] is acceptable.
    """

    name: str
    count: int = 1
    cpu_milli: int = 0
    memory_mib: int = 0
    gpu_count: int = 0
    gpu_milli: int = GPU_MILLI
    gpu_models: tuple[str, ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity: tuple[NodeSelectorRequirement, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    topology: TopologyRequest | None = None
    min_count: int | None = None

    def __post_init__(self) -> None:
        if self.gpu_count > 1 and self.gpu_milli != GPU_MILLI:
            raise ValueError("a shared GPU fraction (gpu_milli < 1000) needs gpu_count == 1")
        if not 0 < self.gpu_milli <= GPU_MILLI:
            raise ValueError("gpu_milli must be in (0, 1000]")
        if self.min_count is not None and not 0 < self.min_count <= self.count:
            raise ValueError("min_count must be in [1, count]")

    @property
    def required_count(self) -> int:
        """Return the fewest pods that make this pod set acceptable."""
        return self.count if self.min_count is None else self.min_count


@dataclass(frozen=True)
class Workload:
    """A quota-reserved workload: its pod sets form one gang (all or nothing).

    ``clusters`` / ``pools`` come from the flavor the quota service assigned (empty = any).
    ``preferred_clusters`` ranks clusters for locality when a flavor spans several.
    """

    id: str
    pod_sets: tuple[PodSet, ...]
    priority: int = 0
    clusters: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()
    preferred_clusters: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoundPod:
    """A pod bound to a node: what it uses, and on which GPUs (index, milli) exactly."""

    pod_id: str
    workload_id: str
    node: str
    cpu_milli: int = 0
    memory_mib: int = 0
    gpus: tuple[tuple[int, int], ...] = ()
    priority: int = 0
    started_at: float = 0.0


def gpu_models_from_spec(spec: str | None) -> tuple[str, ...]:
    """Return the allowed GPU models of a spec such as ``"H100|A100"`` (empty or "nan" = any)."""
    if not spec or spec == "nan":
        return ()
    return tuple(sorted(m.strip() for m in spec.split("|") if m.strip()))


@dataclass(frozen=True)
class Victim:
    """A whole gang to evict."""

    workload_id: str
    priority: int
    pods: tuple[str, ...]
