"""Node events: inventory (compacted), health signals and repair transitions."""

from __future__ import annotations

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


class NodeRepairTransitioned(Event):
    """Node repair moved a node between states; ``evidence`` says what caused it."""

    type: Literal["NodeRepairTransitioned"] = "NodeRepairTransitioned"
    from_state: str
    to_state: Literal["healthy", "suspect", "cordoned", "draining", "repairing", "retired"]
    action: str | None = None
    reason: str = Field(max_length=64)
    evidence: dict[str, str] = Field(default_factory=dict)
