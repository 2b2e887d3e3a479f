"""Parses a fleet YAML into pools and expands them into nodes (as NodeInventoried events)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from libs.events import NodeInventoried, Taint, Topology
from libs.events.envelope import NAME, Frozen
from libs.events.registry import describe


class PoolSpec(Frozen):
    """A set of identical nodes in one cluster and zone."""

    name: str = Field(pattern=NAME)
    cluster: str = Field(pattern=NAME)
    zone: str = Field(pattern=NAME)
    instance_type: str
    nodes: int = Field(ge=1, le=100_000)
    cpu_milli: int = Field(gt=0)
    memory_mib: int = Field(gt=0)
    gpus: int = Field(default=0, ge=0, le=64)
    gpu_model: str | None = None
    nodes_per_rack: int = Field(default=8, ge=1)
    racks_per_block: int = Field(default=4, ge=1)
    price_per_hour: Decimal = Field(ge=0, description="US dollars per node-hour (on-demand, spot or amortised).")
    pricing: str = Field(default="on-demand", pattern="^(on-demand|spot|on-prem-amortised)$")
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @model_validator(mode="after")
    def _gpu_model_iff_gpus(self) -> "PoolSpec":
        if bool(self.gpus) != bool(self.gpu_model):
            raise ValueError(f"pool {self.name}: set gpu_model exactly when gpus > 0")
        return self

    def node_events(self) -> list[NodeInventoried]:
        """Returns the inventory of every node in the pool, with rack and block derived from its index."""
        micros = int(self.price_per_hour * 1_000_000)
        labels = {"batchyard.dev/cluster": self.cluster, "batchyard.dev/pool": self.name,
                  "batchyard.dev/pricing": self.pricing, **self.labels}
        if self.gpu_model:
            labels["batchyard.dev/gpu-model"] = self.gpu_model
        events = []
        for i in range(self.nodes):
            rack = i // self.nodes_per_rack
            block = rack // self.racks_per_block
            node_id = f"{self.cluster}/{self.name}-{i:04d}"
            events.append(NodeInventoried(
                node_id=node_id, cluster=self.cluster, pool=self.name, instance_type=self.instance_type,
                cpu_milli=self.cpu_milli, memory_mib=self.memory_mib, gpu=self.gpus, gpu_model=self.gpu_model,
                labels=labels, taints=self.taints, price_per_hour_micros=micros,
                topology=Topology(zone=f"{self.cluster}/{self.zone}", block=f"{self.cluster}/{self.name}-b{block}",
                                  rack=f"{self.cluster}/{self.name}-r{rack}", host=node_id)))
        return events


class StormSpec(Frozen):
    """A correlated failure: ``share`` of a pool's nodes log a critical GPU XID at the same instant."""

    pool: str = Field(pattern=NAME)
    share: float = Field(gt=0, le=1)
    after_s: float = Field(default=0.0, ge=0, description="Simulated seconds after the fleet starts.")
    xid: int = Field(default=79, description="The XID every stricken node logs (79: GPU fell off the bus).")


class FaultSpec(Frozen):
    """Fault injection and node-agent behaviour of the simulated fleet. Rates are per node per simulated
    hour; durations are simulated seconds."""

    gpu_xid_per_node_hour: float = Field(default=0.0, ge=0)
    heartbeat_loss_per_node_hour: float = Field(default=0.0, ge=0)
    pod_failure_probability: float = Field(default=0.0, ge=0, le=1)
    ecc_uncorrectable_per_node_hour: float = Field(default=0.0, ge=0)
    disk_pressure_per_node_hour: float = Field(default=0.0, ge=0)
    heartbeat_interval_s: float = Field(default=3600.0, gt=0, description="How often each node agent reports.")
    outage_s: float = Field(default=4 * 3600.0, gt=0, description="How long a heartbeat loss keeps a node silent.")
    termination_grace_s: float = Field(default=600.0, ge=0, description="Grace every running gang asks for.")
    drain_settle_s: float = Field(default=0.0, ge=0, description="How long a drained node must stay empty before "
                                  "its agent reports it empty (placements already in flight land first).")
    reboot_s: float = Field(default=600.0, gt=0)
    reimage_s: float = Field(default=3600.0, gt=0)
    replace_s: float = Field(default=4 * 3600.0, gt=0)
    repair_failure_probability: float = Field(default=0.0, ge=0, le=1)
    storms: tuple[StormSpec, ...] = ()

    def repair_seconds(self, action: str) -> float:
        """Returns how long ``action`` (reboot, reimage, replace) takes on this fleet."""
        return {"reboot": self.reboot_s, "reimage": self.reimage_s}.get(action, self.replace_s)


class FleetSpec(Frozen):
    """A whole simulated fleet."""

    name: str = "fleet"
    pools: tuple[PoolSpec, ...] = Field(min_length=1)
    faults: FaultSpec = FaultSpec()

    @model_validator(mode="after")
    def _unique_pools(self) -> "FleetSpec":
        keys = [(p.cluster, p.name) for p in self.pools]
        if len(set(keys)) != len(keys):
            raise ValueError("pool names must be unique within a cluster")
        return self

    def node_events(self) -> list[NodeInventoried]:
        return [e for pool in self.pools for e in pool.node_events()]

    @property
    def node_count(self) -> int:
        return sum(p.nodes for p in self.pools)


class FleetSpecError(ValueError):
    """The fleet YAML is unreadable or invalid; the message names the file and the field."""


def load_fleet(path: str | Path) -> FleetSpec:
    """Returns the fleet described by the YAML file at ``path``; raises FleetSpecError saying what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FleetSpecError(f"{path}: cannot read fleet spec: {exc}") from None
    try:
        return FleetSpec.model_validate(data)
    except ValidationError as exc:
        raise FleetSpecError(f"{path}: invalid fleet spec: {describe(exc)}") from None
