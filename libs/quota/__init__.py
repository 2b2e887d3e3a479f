"""Pure quota core: Kueue semantics for flavors, cohort trees, cluster queues, fair sharing
and preemption. No I/O; deterministic given the clock passed in.

A service keeps a ``QuotaEngine``, feeds it events and publishes ``run_cycle(now)``'s
``CycleResult``. The pure cycle is ``schedule(snapshot, pending, config, now)``.
"""

from libs.quota.config import (AdmissionFairSharing, BorrowWithinCohort, ClusterQueueSpec, CohortSpec,
                               FairPreemptionStrategy, FlavorFungibility, FlavorQuotas, FungibilityPreference,
                               LocalQueue, Preemption, PreemptionPolicy, QueueingStrategy, QuotaConfig,
                               ResourceFlavor, ResourceGroup, ResourceQuota, Timing, WhenCanBorrow, WhenCanPreempt)
from libs.quota.cycle import (Admitted, CycleResult, Expired, Preempting, Snapshot, StillPending,
                              schedule)
from libs.quota.eligibility import NodeSelectorRequirement, SelectorOperator, Taint, Toleration
from libs.quota.engine import PendingInfo, QuotaEngine, QuotaError
from libs.quota.outcome import Mode, Reason, Why
from libs.quota.preemption import Preemptor, SearchContext, Target, find_preemption_targets
from libs.quota.quantity import QuantityError, format_quantity, parse_quantity
from libs.quota.tree import QuotaTree
from libs.quota.workload import Admission, PodSet, PodSetAssignment, Reservation, Workload

__all__ = [
    "Admission", "AdmissionFairSharing", "Admitted", "BorrowWithinCohort", "ClusterQueueSpec", "CohortSpec",
    "CycleResult", "Expired", "FairPreemptionStrategy", "FlavorFungibility", "FlavorQuotas",
    "FungibilityPreference", "LocalQueue", "Mode", "NodeSelectorRequirement", "PendingInfo", "PodSet",
    "PodSetAssignment", "Preempting", "Preemption", "PreemptionPolicy", "Preemptor", "QuantityError",
    "QueueingStrategy", "QuotaConfig", "QuotaEngine", "QuotaError", "QuotaTree", "Reason", "Reservation",
    "ResourceFlavor", "ResourceGroup", "ResourceQuota", "SearchContext", "SelectorOperator", "Snapshot",
    "StillPending", "Taint", "Target", "Timing", "Toleration", "WhenCanBorrow", "WhenCanPreempt", "Why",
    "Workload", "find_preemption_targets", "format_quantity", "parse_quantity", "schedule",
]
