"""Quota configuration: flavors, cohorts, cluster queues, local queues (Kueue-shaped).

All records are frozen; a new configuration is a new ``QuotaConfig`` applied with
``QuotaEngine.apply_config`` (hot reload keeps every reservation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping

from libs.quota.eligibility import Taint, Toleration

FlavorResource = tuple[str, str]  # (flavor name, resource name)


class QueueingStrategy(str, Enum):
    """How a cluster queue orders and retries its pending workloads."""

    STRICT_FIFO = "StrictFIFO"  # an inadmissible head blocks everything behind it
    BEST_EFFORT_FIFO = "BestEffortFIFO"  # an inadmissible head steps aside until quota frees


class PreemptionPolicy(str, Enum):
    """Which victims a policy allows (``withinClusterQueue`` / ``reclaimWithinCohort``)."""

    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    LOWER_OR_NEWER_EQUAL_PRIORITY = "LowerOrNewerEqualPriority"
    ANY = "Any"


class WhenCanBorrow(str, Enum):
    """Flavor fungibility: stop at a flavor that fits by borrowing, or look further.

    ``MayStopSearch`` is Kueue's current name; the older ``Borrow`` is accepted for it.
    """

    MAY_STOP_SEARCH = "MayStopSearch"
    TRY_NEXT_FLAVOR = "TryNextFlavor"
    BORROW = "MayStopSearch"  # alias: the v1beta1 name

    @classmethod
    def _missing_(cls, value):
        return cls.MAY_STOP_SEARCH if value == "Borrow" else None


class WhenCanPreempt(str, Enum):
    """Flavor fungibility: preempt in this flavor, or first try the next flavor.

    ``MayStopSearch`` is Kueue's current name; the older ``Preempt`` is accepted for it.
    """

    MAY_STOP_SEARCH = "MayStopSearch"
    TRY_NEXT_FLAVOR = "TryNextFlavor"
    PREEMPT = "MayStopSearch"  # alias: the v1beta1 name

    @classmethod
    def _missing_(cls, value):
        return cls.MAY_STOP_SEARCH if value == "Preempt" else None


class FungibilityPreference(str, Enum):
    """When every flavor needs borrowing or preemption: which to prefer (Kueue's ``preference``)."""

    BORROWING_OVER_PREEMPTION = "BorrowingOverPreemption"  # better preemption mode first
    PREEMPTION_OVER_BORROWING = "PreemptionOverBorrowing"  # less borrowing first


class FairPreemptionStrategy(str, Enum):
    """Kueue's fair-sharing preemption strategies, tried in the configured order."""

    LESS_THAN_OR_EQUAL_TO_FINAL_SHARE = "LessThanOrEqualToFinalShare"
    LESS_THAN_INITIAL_SHARE = "LessThanInitialShare"


@dataclass(frozen=True, slots=True)
class ResourceFlavor:
    """A variant of capacity (GPU model, cloud, spot) and the node labels that select it."""

    name: str
    node_labels: Mapping[str, str] = field(default_factory=dict)  # e.g. cluster, pool
    node_taints: tuple[Taint, ...] = ()  # pods must tolerate NoSchedule/NoExecute taints
    tolerations: tuple[Toleration, ...] = ()  # added to every pod set that uses the flavor


@dataclass(frozen=True, slots=True)
class ResourceQuota:
    """Quota for one (flavor, resource) at one node of the tree; amounts in canonical units."""

    nominal: int
    borrowing_limit: int | None = None  # None: may borrow everything the parent offers
    lending_limit: int | None = None  # None: lends all unused nominal quota


@dataclass(frozen=True, slots=True)
class FlavorQuotas:
    """One flavor inside a resource group and its quota per covered resource."""

    flavor: str
    resources: Mapping[str, ResourceQuota]


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    """Resources that must come from the same flavor, with flavors in order of preference."""

    covered_resources: tuple[str, ...]
    flavors: tuple[FlavorQuotas, ...]


@dataclass(frozen=True, slots=True)
class BorrowWithinCohort:
    """Preemption while borrowing: victims of lower priority, at most ``max_priority_threshold``."""

    policy: PreemptionPolicy = PreemptionPolicy.NEVER  # Never or LowerPriority
    max_priority_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class Preemption:
    """A cluster queue's preemption policies, named as Kueue names them."""

    within_cluster_queue: PreemptionPolicy = PreemptionPolicy.NEVER
    reclaim_within_cohort: PreemptionPolicy = PreemptionPolicy.NEVER
    borrow_within_cohort: BorrowWithinCohort = BorrowWithinCohort()

    @property
    def enabled(self) -> bool:
        """True when any policy may name a victim."""
        return (self.within_cluster_queue is not PreemptionPolicy.NEVER
                or self.reclaim_within_cohort is not PreemptionPolicy.NEVER
                or self.borrow_within_cohort.policy is not PreemptionPolicy.NEVER)


@dataclass(frozen=True, slots=True)
class FlavorFungibility:
    """Whether to try the next flavor before borrowing or preempting in the current one."""

    when_can_borrow: WhenCanBorrow = WhenCanBorrow.MAY_STOP_SEARCH
    when_can_preempt: WhenCanPreempt = WhenCanPreempt.TRY_NEXT_FLAVOR
    preference: FungibilityPreference | None = None  # None: BorrowingOverPreemption


@dataclass(frozen=True, slots=True)
class CohortSpec:
    """An inner node of the quota tree (org, team); its own quota is an extra shared pool."""

    name: str
    parent: str | None = None
    resource_groups: tuple[ResourceGroup, ...] = ()
    fair_weight: float = 1.0


@dataclass(frozen=True, slots=True)
class ClusterQueueSpec:
    """A leaf of the quota tree: nominal quota per flavor and resource plus policies."""

    name: str
    cohort: str | None = None
    resource_groups: tuple[ResourceGroup, ...] = ()
    queueing_strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    preemption: Preemption = Preemption()
    flavor_fungibility: FlavorFungibility = FlavorFungibility()
    fair_weight: float = 1.0
    hold: bool = False  # stopPolicy Hold: admit nothing new, keep what runs
    admission_fair_sharing: bool = False  # admissionScope UsageBasedAdmissionFairSharing


@dataclass(frozen=True, slots=True)
class LocalQueue:
    """The door a team submits through: (namespace, name) → cluster queue."""

    namespace: str
    name: str
    cluster_queue: str
    fair_weight: float = 1.0  # admission fair sharing: usage is divided by this


@dataclass(frozen=True, slots=True)
class Timing:
    """Durations (seconds) for backoff, waitForPodsReady and minimum runtime."""

    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 3600.0
    pods_ready_timeout_seconds: float | None = None  # None disables waitForPodsReady
    min_runtime_seconds: float = 0.0  # a workload younger than this is never a victim
    order_by_eviction: bool = True  # requeuingStrategy.timestamp: Eviction (Kueue's default) or Creation


@dataclass(frozen=True, slots=True)
class AdmissionFairSharing:
    """Kueue's ``admissionFairSharing``: local queues that used less are admitted first."""

    half_life_seconds: float = 7 * 24 * 3600.0  # usageHalfLifeTime
    sampling_seconds: float = 300.0  # usageSamplingInterval
    resource_weights: Mapping[str, float] = field(default_factory=dict)  # resource → weight (default 1)


@dataclass(frozen=True, slots=True)
class QuotaConfig:
    """The whole quota configuration; validated by ``libs.quota.loader`` when read from YAML."""

    flavors: Mapping[str, ResourceFlavor] = field(default_factory=dict)
    cohorts: Mapping[str, CohortSpec] = field(default_factory=dict)
    cluster_queues: Mapping[str, ClusterQueueSpec] = field(default_factory=dict)
    local_queues: Mapping[tuple[str, str], LocalQueue] = field(default_factory=dict)
    priority_classes: Mapping[str, int] = field(default_factory=dict)
    fair_sharing: bool = False
    fair_preemption_strategies: tuple[FairPreemptionStrategy, ...] = (
        FairPreemptionStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE,
        FairPreemptionStrategy.LESS_THAN_INITIAL_SHARE,
    )
    timing: Timing = Timing()
    admission_fair_sharing: AdmissionFairSharing | None = None  # None: disabled

    def __post_init__(self) -> None:
        for name in ("flavors", "cohorts", "cluster_queues", "local_queues", "priority_classes"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def priority_of(self, priority_class: str | None) -> int:
        """Returns the value of a (Workload)PriorityClass; 0 for none; KeyError when unknown."""
        return 0 if not priority_class else self.priority_classes[priority_class]

    @staticmethod
    def build(*, flavors=(), cohorts=(), cluster_queues=(), local_queues=(), **kw) -> "QuotaConfig":
        """Returns a config from lists of records (keys are taken from the records)."""
        return QuotaConfig(
            flavors={f.name: f for f in flavors},
            cohorts={c.name: c for c in cohorts},
            cluster_queues={q.name: q for q in cluster_queues},
            local_queues={(q.namespace, q.name): q for q in local_queues},
            **kw,
        )
