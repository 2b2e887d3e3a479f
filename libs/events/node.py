"""Node events: inventory (compacted), health signals and repair transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from libs.events.envelope import Event, Frozen


class Taint(Frozen):
    key: str = Field(max_length=253)
    value: str | None = Field(default=None, max_length=253)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class Topology(Frozen):
    """Where a node sits: zone ⊃ block ⊃ rack ⊃ host."""

    zone: str
    block: str
    rack: str
    host: str


class NodeInventoried(Event):
    """A node's full description, as its cluster reports it. Latest per node wins (compacted topic)."""

    type: Literal["NodeInventoried"] = "NodeInventoried"
    cluster: str
    pool: str
    instance_type: str
    cpu_milli: int = Field(ge=0)
    memory_mib: int = Field(ge=0)
    gpu: int = Field(ge=0)
    gpu_model: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    topology: Topology
    price_per_hour_micros: int = Field(ge=0, description="Hourly price in millionths of a dollar.")
    removed: bool = False


class NodeHealthReported(Event):
    """A health signal: conditions, heartbeat, GPU XID codes, ECC counts, disk pressure."""

    type: Literal["NodeHealthReported"] = "NodeHealthReported"
    conditions: dict[str, bool] = Field(default_factory=dict, description="e.g. Ready, DiskPressure.")
    heartbeat: bool = True
    xid_codes: tuple[int, ...] = ()
    ecc_uncorrectable: int = Field(default=0, ge=0)
    ecc_correctable: int = Field(default=0, ge=0)
    gpu: int | None = Field(default=None, ge=0, description="GPU index the XID codes and ECC counters refer to.")
    remap_pending: bool = Field(default=False, description="A GPU row remap waits for a GPU reset.")
    remap_failed: bool = Field(default=False, description="A GPU row remap failed (XID 64 territory).")
    conditions_since: dict[str, datetime] = Field(
        default_factory=dict, description="lastTransitionTime per condition in ``conditions`` (else occurred_at).")
    disk_used_percent: int | None = Field(default=None, ge=0, le=100, description="Root filesystem usage.")
    running_pods: int | None = Field(default=None, ge=0, description="Pods on the node, when the report counts them.")
    termination_grace_s: float | None = Field(
        default=None, ge=0, description="Largest termination grace the node's running gangs asked for.")
    repair_action: Literal["reboot", "reimage", "replace"] | None = Field(
        default=None, description="Set when this report is the result of a repair the connector carried out.")
    repair_ok: bool | None = Field(default=None, description="Whether that repair succeeded.")
    repair_detail: str = Field(default="", max_length=500)


class NodeRepairTransitioned(Event):
    """Node repair moved a node between states; ``evidence`` says what caused it."""

    type: Literal["NodeRepairTransitioned"] = "NodeRepairTransitioned"
    from_state: str
    to_state: Literal["healthy", "suspect", "cordoned", "draining", "repairing", "retired"]
    action: str | None = None
    reason: str = Field(max_length=64)
    evidence: dict[str, str] = Field(default_factory=dict)
    pool: str | None = Field(default=None, description="The node's pool (budgets are per pool).")
    domain: str | None = Field(default=None, description="The node's topology failure domain (its rack).")
    drain_deadline: datetime | None = Field(
        default=None, description="Entering draining: when the grace ends and the connector evicts what is left.")


class _ClusterEvent(Event):
    """Base of cluster-level events: keyed by the cluster, so one cluster's reports stay in order."""

    cluster: str = Field(min_length=1, max_length=63)

    @property
    def key(self) -> bytes:
        return self.cluster.encode()


class ClusterStatusReported(_ClusterEvent):
    """A cluster connector's heartbeat: whether it reached its cluster's API server just now, and if not, why.

    Sent every few seconds; silence counts like an unreachable report (the connector, or the path to it, is down).
    """

    type: Literal["ClusterStatusReported"] = "ClusterStatusReported"
    reachable: bool
    message: str = Field(default="", max_length=500, description="Why it is unreachable (the last error).")


class ClusterReachabilityChanged(_ClusterEvent):
    """Node repair's judgement that a cluster became unreachable (no reachable report for the grace period) or
    came back. While a cluster is unreachable its nodes take no new work, its running work stays where it is, and
    its silent nodes are not diagnosed (their heartbeats are not lost, the path to them is)."""

    type: Literal["ClusterReachabilityChanged"] = "ClusterReachabilityChanged"
    reachable: bool
    since: datetime = Field(description="The last reachable report (when unreachable), or the first after the gap.")
    reason: Literal["ClusterUnreachable", "ClusterReachable"]
    message: str = Field(default="", max_length=1000)
