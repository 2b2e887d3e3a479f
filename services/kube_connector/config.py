"""The Kubernetes connector's configuration (YAML, pydantic; unknown fields are refused with their path).

One connector serves one cluster (docs/adr/0010-one-kubernetes-connector-per-cluster.md). The file says which
cluster, how to reach its API server, which namespace belongs to which team, how to price its nodes and
where to read topology from node labels.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.events.envelope import NAME
from libs.events.registry import describe
from libs.events.validation import read_yaml

DEFAULT_BLOCK_LABELS = ("batchyard.dev/block", "cloud.google.com/gce-topology-block",
                        "topology.k8s.aws/network-node-layer-1")
DEFAULT_RACK_LABELS = ("batchyard.dev/rack", "cloud.google.com/gce-topology-subblock",
                       "topology.k8s.aws/network-node-layer-2")
DEFAULT_POOL_LABELS = ("batchyard.dev/pool", "karpenter.sh/nodepool", "eks.amazonaws.com/nodegroup",
                       "cloud.google.com/gke-nodepool")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantRef(Strict):
    """The org and team a namespace's workloads belong to (and pay for)."""

    org: str = Field(pattern=NAME)
    team: str = Field(pattern=NAME)


class NodePrice(Strict):
    """What one node of an instance type costs per hour, on one capacity type (and, optionally, in one zone)."""

    instance_type: str = Field(min_length=1)
    capacity_type: Literal["on-demand", "spot"] = "on-demand"
    zone: str | None = None
    hourly: Decimal = Field(ge=0, description="US dollars per node-hour.")


class TopologyLabels(Strict):
    """Node label keys that name each topology level; the first one a node carries wins."""

    zone: tuple[str, ...] = ("topology.kubernetes.io/zone",)
    block: tuple[str, ...] = DEFAULT_BLOCK_LABELS
    rack: tuple[str, ...] = DEFAULT_RACK_LABELS


class SimulatedRepairs(Strict):
    """For kwok fleets only: pretend each repair action takes this long and succeeds (seconds of event time)."""

    reboot_s: float = Field(default=600, gt=0)
    reimage_s: float = Field(default=3600, gt=0)
    replace_s: float = Field(default=14400, gt=0)


#: Taints the clouds' spot-interruption handlers put on a node about to be reclaimed (and batchyard's own).
RECLAIM_TAINTS = ("batchyard.dev/spot-reclaim", "aws-node-termination-handler/spot-itn",
                  "cloud.google.com/impending-node-termination", "karpenter.sh/disrupted")


class ConnectorConfig(Strict):
    cluster: str = Field(pattern=NAME, description="This cluster's name in batchyard (node ids, flavors, cost).")
    kubeconfig: str | None = Field(default=None, description="Path; none: in-cluster (BATCHYARD_KUBECONFIG wins).")
    context: str | None = None
    scheduler_name: str = "batchyard"
    tenants: dict[str, TenantRef] = Field(default_factory=dict, description="Namespace -> org/team.")
    signing_key_file: str = Field(description="Keyring-format YAML: the keys the connector signs submissions with.")
    prices: tuple[NodePrice, ...] = ()
    pool_labels: tuple[str, ...] = DEFAULT_POOL_LABELS
    topology: TopologyLabels = TopologyLabels()
    kinds: tuple[Literal["BatchJob", "Job", "RayJob", "SparkApplication", "PyTorchJob", "Pod"], ...] = (
        "BatchJob", "Job", "RayJob", "SparkApplication", "PyTorchJob", "Pod")
    heartbeat_interval_s: float = Field(default=10.0, gt=0, description="Wall seconds between node health reports "
                                        "while a node's lease is fresh.")
    lease_timeout_s: float = Field(default=40.0, gt=0, description="A lease older than this: no heartbeat.")
    cluster_heartbeat_s: float = Field(default=5.0, gt=0, le=600, description=(
        "Event seconds between the connector's cluster heartbeats (ClusterStatusReported: whether it reached its "
        "API server), at least half a wall second apart. Node repair judges the cluster unreachable when none "
        "reached it for diagnosis.cluster_unreachable_after_s (event seconds too)."))
    drain_settle_s: float = Field(default=0.0, ge=0, description="Event-time seconds a drained node stays empty "
                                  "before it is reported empty.")
    simulated_repairs: SimulatedRepairs | None = None
    time_scale: float = Field(default=1.0, gt=0, description="Event seconds per wall second: 1 on a real cluster; "
                              "a kwok fleet may run faster, like the simulated fleet.")
    api_concurrency: int = Field(default=32, ge=1, le=1000, description="Most API requests in flight.")
    reclaim_taints: tuple[str, ...] = Field(default=RECLAIM_TAINTS, description=(
        "Taint keys that say the cloud is taking a (spot) node back: its work is evicted and requeued at once, as "
        "when the node is deleted."))

    def tenant_of(self, namespace: str) -> TenantRef | None:
        return self.tenants.get(namespace)

    def price_micros(self, instance_type: str, capacity_type: str, zone: str | None) -> int | None:
        """Returns the node-hour price in micro-dollars (a zone-specific entry wins), or None if unpriced."""
        found = [p for p in self.prices if p.instance_type == instance_type and p.capacity_type == capacity_type
                 and p.zone in (zone, None)]
        if not found:
            return None
        best = max(found, key=lambda p: p.zone is not None)
        return int(best.hourly * 1_000_000)


class ConnectorConfigError(ValueError):
    """The connector's YAML is unreadable or invalid; the message names the file and the field."""


def load_connector_config(path: str | Path) -> ConnectorConfig:
    """Returns the configuration in ``path``; raises ConnectorConfigError saying what is wrong."""
    path = Path(path)
    data = read_yaml(path, "connector config", ConnectorConfigError)
    try:
        return ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConnectorConfigError(f"{path}: invalid connector config: {describe(exc)}") from None
