"""The topic catalog: every topic's name, partitions, key, retention, compaction, the events it carries, and who
may write and read it (the Kafka ACLs are generated from this: libs/platform/acls.py)."""

from __future__ import annotations

from dataclasses import dataclass

from libs.events import cost as c
from libs.events import deadletter as d
from libs.events import node as n
from libs.events import workload as w
from libs.events.envelope import Event

DAY_MS = 24 * 3600 * 1000

# Principals of the bus (Kafka users). A service's principal is its name; a Kubernetes connector's is
# ``kube-connector-<cluster>`` (KUBE_CONNECTOR stands for every one of them). Producers are the tenants' CI and
# CLIs; ops and finance only read.
PRODUCER, OPS, FINANCE = "producer", "ops", "finance"
ADMISSION_SVC, QUOTA_SVC, SCHEDULER_SVC = "admission", "quota", "scheduler"
NODE_REPAIR_SVC, COST_SVC, SIM_FLEET_SVC, KUBE_CONNECTOR = "node-repair", "cost-reporting", "sim-fleet", "kube-connector"
CONSUMING_SERVICES = (ADMISSION_SVC, QUOTA_SVC, SCHEDULER_SVC, NODE_REPAIR_SVC, COST_SVC, SIM_FLEET_SVC,
                      KUBE_CONNECTOR)


def replication(brokers: int) -> tuple[int, int]:
    """Returns (replication factor, min.insync.replicas) for a cluster of ``brokers``: three copies where there
    are three brokers or more, of which two must hold every acks=all write (so one broker may be lost without
    losing a record or stopping writes); with fewer brokers, every copy there is."""
    factor = max(1, min(3, brokers))
    return factor, 2 if factor >= 3 else factor


@dataclass(frozen=True)
class Topic:
    """One Kafka topic and its contract."""

    name: str
    partitions: int
    key: str  # which envelope field keys the records: order is kept per key
    events: tuple[type[Event], ...]
    retention_ms: int = 7 * DAY_MS
    compacted: bool = False
    description: str = ""
    writers: tuple[str, ...] = ()  # principals that may produce to it (nobody else can)
    readers: tuple[str, ...] = ()  # principals that may consume it (nobody else can)

    @property
    def event_names(self) -> frozenset[str]:
        return frozenset(e.model_fields["type"].default for e in self.events)

    def qualified(self, namespace: str = "") -> str:
        """Returns the topic's name inside a namespace (isolates test runs and demos on a shared cluster)."""
        return f"{namespace}.{self.name}" if namespace else self.name

    def configs(self, min_insync: int = 1) -> dict[str, str]:
        """Returns the topic-level Kafka configs this catalog entry requires (``min_insync``: see replication)."""
        cfg = {"retention.ms": str(self.retention_ms),
               "cleanup.policy": "compact" if self.compacted else "delete",
               "min.insync.replicas": str(min_insync)}
        if self.compacted:
            cfg["min.cleanable.dirty.ratio"] = "0.1"
        return cfg


SUBMITTED = Topic("batchyard.workload.submitted", 6, "workload_id",
                  (w.WorkloadSubmitted, w.WorkloadCancelRequested, w.WorkloadSuspendRequested,
                   w.WorkloadResumeRequested, w.WorkloadPriorityChangeRequested),
                  description="Producers submit workloads, and ask to cancel, suspend, resume or reprioritise them, "
                              "here.",
                  writers=(PRODUCER, KUBE_CONNECTOR), readers=(ADMISSION_SVC,))
ADMISSION = Topic("batchyard.workload.admission", 6, "workload_id",
                  (w.WorkloadAccepted, w.WorkloadRejected, w.WorkloadCancelled, w.WorkloadCancelRefused,
                   w.WorkloadSuspended, w.WorkloadResumed, w.WorkloadPriorityChanged, w.WorkloadRequestRefused),
                  description="Admission's verdicts on submissions and on cancel, suspend, resume and priority "
                              "requests.",
                  writers=(ADMISSION_SVC,), readers=(QUOTA_SVC, KUBE_CONNECTOR))
QUOTA = Topic("batchyard.workload.quota", 6, "workload_id",
              (w.QuotaReserved, w.QuotaReleased, w.WorkloadPending, w.PreemptionRequested, w.WorkloadCancelled,
               w.WorkloadSuspended, w.WorkloadPriorityChanged),
              description="Quota reservations, releases, pending reasons, quota-level preemption, cancellations "
                          "and suspensions forwarded once quota released the workload, and priority changes "
                          "forwarded once quota applied them.",
              writers=(QUOTA_SVC,), readers=(SCHEDULER_SVC, SIM_FLEET_SVC, KUBE_CONNECTOR))
PLACEMENT = Topic("batchyard.workload.placement", 6, "workload_id",
                  (w.WorkloadPlaced, w.WorkloadUnschedulable, w.PreemptionRequested, w.WorkloadCancelled,
                   w.WorkloadSuspended),
                  description="Scheduler decisions, and cancellations and suspensions forwarded once it forgot the "
                              "workload.",
                  writers=(SCHEDULER_SVC,),
                  readers=(QUOTA_SVC, COST_SVC, SIM_FLEET_SVC, KUBE_CONNECTOR))
LIFECYCLE = Topic("batchyard.workload.lifecycle", 6, "workload_id",
                  (w.WorkloadRunning, w.WorkloadSucceeded, w.WorkloadFailed, w.WorkloadEvicted),
                  description="Pod phases reported by the cluster connectors.", writers=(SIM_FLEET_SVC, KUBE_CONNECTOR),
                  readers=(ADMISSION_SVC, QUOTA_SVC, SCHEDULER_SVC, COST_SVC))
NODE_INVENTORY = Topic("batchyard.node.inventory", 6, "node_id", (n.NodeInventoried,), retention_ms=-1,
                       compacted=True, description="Latest description of every node (compacted).",
                       writers=(SIM_FLEET_SVC, KUBE_CONNECTOR), readers=(SCHEDULER_SVC, NODE_REPAIR_SVC, COST_SVC))
NODE_HEALTH = Topic("batchyard.node.health", 6, "node_id", (n.NodeHealthReported, n.ClusterStatusReported),
                    retention_ms=3 * DAY_MS,
                    description="Health signals for ops and node repair, and each cluster connector's heartbeat "
                                "(keyed by cluster).", writers=(SIM_FLEET_SVC, KUBE_CONNECTOR),
                    readers=(NODE_REPAIR_SVC, OPS))
NODE_REPAIR = Topic("batchyard.node.repair", 6, "node_id", (n.NodeRepairTransitioned, n.ClusterReachabilityChanged),
                    retention_ms=30 * DAY_MS,
                    description="Every node-repair state transition, with evidence, and node repair's judgement "
                                "that a cluster became unreachable or came back (keyed by cluster).",
                    writers=(NODE_REPAIR_SVC,),
                    readers=(SCHEDULER_SVC, SIM_FLEET_SVC, KUBE_CONNECTOR, OPS))
COST_ACCRUALS = Topic("batchyard.cost.accruals", 6, "workload_id", (c.CostAccrued,), retention_ms=90 * DAY_MS,
                      description="Per-workload cost accruals for finance.", writers=(COST_SVC,), readers=(FINANCE,))
COST_ROLLUPS = Topic("batchyard.cost.rollups", 3, "event_id", (c.CostRolledUp,), retention_ms=400 * DAY_MS,
                     description="Daily cost rollups per org, team, queue, cluster and GPU model.", writers=(COST_SVC,),
                     readers=(FINANCE,))
DEAD_LETTER = Topic("batchyard.deadletter", 3, "event_id", (d.MessageDeadLettered,), retention_ms=30 * DAY_MS,
                    description="Messages a consumer could not handle, with the error and original bytes.",
                    writers=CONSUMING_SERVICES, readers=(OPS,))

CATALOG: tuple[Topic, ...] = (SUBMITTED, ADMISSION, QUOTA, PLACEMENT, LIFECYCLE, NODE_INVENTORY, NODE_HEALTH,
                              NODE_REPAIR, COST_ACCRUALS, COST_ROLLUPS, DEAD_LETTER)


_TOPIC_OF: dict[str, Topic] = {}  # event type -> its topic, filled on first use (every emit asks; ~10 us uncached)


def topic_for(event: Event) -> Topic:
    """Returns the topic an event is published on (the first catalog entry that carries its type)."""
    topic = _TOPIC_OF.get(event.type)
    if topic is None:
        topic = next((t for t in CATALOG if event.type in t.event_names), None)
        if topic is None:
            raise KeyError(f"no topic carries {event.type}")
        _TOPIC_OF[event.type] = topic
    return topic
