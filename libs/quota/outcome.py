"""Ordered outcomes and the reasons behind every "not now", in codes and in words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Mode(IntEnum):
    """How well a workload fits a flavor; ordered so ``max`` picks the better one.

    NO_FIT: not even with preemption. PREEMPT: fits once victims are evicted.
    FIT: fits in free quota (possibly by borrowing from the cohort).
    """

    NO_FIT = 0
    PREEMPT = 1
    FIT = 2


class Reason(str, Enum):
    """Machine-readable reason codes for pending, evicted and rejected workloads."""

    QUEUED = "Queued"  # waiting behind other workloads in its queue
    NO_FIT = "NoFit"  # no flavor has enough quota, even with preemption
    QUOTA_EXHAUSTED = "QuotaExhausted"  # would fit by preempting, but no victim is allowed
    WAITING_FOR_PREEMPTION = "WaitingForPreemption"  # victims named, waiting for them to leave
    SKIPPED_IN_CYCLE = "SkippedInCycle"  # quota taken by an earlier admission in the same cycle
    BLOCKED_BY_HEAD = "BlockedByHead"  # StrictFIFO: the head does not fit
    BACKOFF = "Backoff"  # requeued after eviction; waits until the backoff expires
    CLUSTER_QUEUE_HELD = "ClusterQueueHeld"  # stopPolicy Hold
    LOCAL_QUEUE_NOT_FOUND = "LocalQueueNotFound"
    CLUSTER_QUEUE_NOT_FOUND = "ClusterQueueNotFound"
    RESOURCE_NOT_COVERED = "ResourceNotCovered"  # the cluster queue has no quota for a resource
    # eviction reasons
    PREEMPTED_IN_CLUSTER_QUEUE = "InClusterQueue"
    PREEMPTED_RECLAIM = "InCohortReclamation"
    PREEMPTED_FAIR_SHARING = "InCohortFairSharing"
    PREEMPTED_WHILE_BORROWING = "InCohortReclaimWhileBorrowing"
    PODS_READY_TIMEOUT = "PodsReadyTimeout"
    EVICTED = "Evicted"  # evicted from outside (node failure, user)
    FAILED = "Failed"  # a run failed and the workload's backoffLimit retries it


@dataclass(frozen=True, slots=True)
class Why:
    """A reason code with the sentence a user can act on."""

    reason: Reason
    message: str
