"""Event contracts: the envelope, one frozen model per event, the topic catalog and schema export."""

from libs.events.cost import CostAccrued, CostRolledUp
from libs.events.deadletter import MessageDeadLettered
from libs.events.envelope import Event, Tenant
from libs.events.node import (
    ClusterReachabilityChanged,
    ClusterStatusReported,
    NodeHealthReported,
    NodeInventoried,
    NodeRepairTransitioned,
    Taint,
    Topology,
)
from libs.events.registry import EVENT_TYPES, DecodeError, decode, encode
from libs.events.topics import CATALOG, Topic, topic_for
from libs.events.workload import (
    FlavorAssignment,
    PodAssignment,
    PodSet,
    PreemptionRequested,
    QuotaReleased,
    QuotaReserved,
    Resources,
    TopologyRequest,
    WorkloadAccepted,
    WorkloadCancelled,
    WorkloadCancelRefused,
    WorkloadCancelRequested,
    WorkloadPriorityChanged,
    WorkloadPriorityChangeRequested,
    WorkloadRequestRefused,
    WorkloadResumed,
    WorkloadResumeRequested,
    WorkloadSuspended,
    WorkloadSuspendRequested,
    WorkloadEvicted,
    WorkloadFailed,
    WorkloadPending,
    WorkloadPlaced,
    WorkloadRejected,
    WorkloadRunning,
    WorkloadSpec,
    WorkloadSubmitted,
    WorkloadSucceeded,
    WorkloadUnschedulable,
    ends_workload,
    failure,
    retried,
)

__all__ = [
    "CATALOG", "EVENT_TYPES", "ClusterReachabilityChanged", "ClusterStatusReported",
    "CostAccrued", "CostRolledUp", "DecodeError", "Event", "FlavorAssignment",
    "MessageDeadLettered", "NodeHealthReported", "NodeInventoried", "NodeRepairTransitioned", "PodAssignment",
    "PodSet", "PreemptionRequested", "QuotaReleased", "QuotaReserved", "Resources", "Taint", "Tenant", "Topic",
    "Topology", "TopologyRequest", "WorkloadAccepted", "WorkloadCancelRefused", "WorkloadCancelRequested",
    "WorkloadCancelled", "WorkloadPriorityChangeRequested", "WorkloadPriorityChanged",
    "WorkloadRequestRefused", "WorkloadResumeRequested", "WorkloadResumed",
    "WorkloadSuspendRequested", "WorkloadSuspended", "WorkloadEvicted", "WorkloadFailed", "WorkloadPending",
    "WorkloadPlaced", "WorkloadRejected", "WorkloadRunning", "WorkloadSpec", "WorkloadSubmitted",
    "WorkloadSucceeded", "WorkloadUnschedulable", "decode", "encode", "ends_workload", "failure", "retried",
    "topic_for",
]
