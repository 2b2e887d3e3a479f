"""Kubernetes Nodes as batchyard inventory and health (pure: dicts from the API in, events out).

A node's id is ``<cluster>/<node name>``. Capacity is the node's allocatable CPU, memory and
``nvidia.com/gpu``; the GPU model comes from NVIDIA's GPU feature discovery label; topology, pool and the
price-catalog key (instance type, capacity type, zone) from the labels named in the connector's config.
GPU faults arrive as node annotations written by the node's health agent (e.g. a DCGM exporter hook):
``batchyard.dev/gpu-xid`` ("79" or "79,48"), ``batchyard.dev/gpu-xid-gpu`` (the GPU index),
``batchyard.dev/ecc-uncorrectable`` and ``batchyard.dev/disk-used-percent``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from libs.events import NodeHealthReported, NodeInventoried, Taint, Topology
from libs.quota.quantity import QuantityError, parse_quantity
from services.kube_connector.config import ConnectorConfig

GPU = "nvidia.com/gpu"
XID, XID_GPU, ECC, DISK = ("batchyard.dev/gpu-xid", "batchyard.dev/gpu-xid-gpu", "batchyard.dev/ecc-uncorrectable",
                           "batchyard.dev/disk-used-percent")
_PRODUCT_PREFIX = re.compile(r"^(NVIDIA|Tesla|GeForce|Quadro)[-_ ]", re.IGNORECASE)


def node_id(cluster: str, name: str) -> str:
    return f"{cluster}/{name}"


def gpu_model(product: str | None) -> str | None:
    """Returns the model in a GPU product label: "NVIDIA-H100-80GB-HBM3" -> "H100", "Tesla-T4" -> "T4"."""
    if not product:
        return None
    while _PRODUCT_PREFIX.match(product):
        product = _PRODUCT_PREFIX.sub("", product, count=1)
    return re.split(r"[-_ ]", product, maxsplit=1)[0] or None


def capacity_type(labels: dict[str, str]) -> str:
    """Returns spot or on-demand, from the capacity-type labels of Karpenter, EKS and GKE."""
    if labels.get("karpenter.sh/capacity-type") == "spot" or labels.get("eks.amazonaws.com/capacityType") == "SPOT":
        return "spot"
    if labels.get("cloud.google.com/gke-spot") == "true" or labels.get("cloud.google.com/gke-preemptible") == "true":
        return "spot"
    return "on-demand"


def _first(labels: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((labels[k] for k in keys if labels.get(k)), None)


@dataclass(frozen=True)
class Inventory:
    """A node's inventory event, and whether its price was found in the connector's price list."""

    event: NodeInventoried
    priced: bool


def inventory(node: dict, config: ConnectorConfig, at: datetime, *, removed: bool = False) -> Inventory:
    """Returns the NodeInventoried of ``node`` (quantities it cannot read count as zero)."""
    meta, status, spec = node.get("metadata") or {}, node.get("status") or {}, node.get("spec") or {}
    labels, alloc, cluster = dict(meta.get("labels") or {}), status.get("allocatable") or {}, config.cluster
    nid = node_id(cluster, meta["name"])
    gpus = _quantity(GPU, alloc.get(GPU))
    model = gpu_model(labels.get("nvidia.com/gpu.product")) if gpus else None
    instance_type = labels.get("node.kubernetes.io/instance-type") or labels.get(
        "beta.kubernetes.io/instance-type") or "unknown"
    zone = _first(labels, config.topology.zone) or "default"
    capacity = capacity_type(labels)
    price = config.price_micros(instance_type, capacity, zone)
    pool = _first(labels, config.pool_labels) or instance_type
    derived = {"batchyard.dev/cluster": cluster, "batchyard.dev/pool": pool,
               "batchyard.dev/pricing": labels.get("batchyard.dev/pricing") or capacity}
    if model:
        derived["batchyard.dev/gpu-model"] = model
    event = NodeInventoried(
        node_id=nid, occurred_at=at, cluster=cluster, pool=pool, instance_type=instance_type,
        cpu_milli=_quantity("cpu", alloc.get("cpu")), memory_mib=_quantity("memory", alloc.get("memory")) >> 20,
        gpu=gpus, gpu_model=model, labels={**labels, **derived}, taints=_taints(spec), removed=removed,
        price_per_hour_micros=price or 0,
        topology=Topology(zone=f"{cluster}/{zone}", block=_scoped(cluster, _first(labels, config.topology.block), nid),
                          rack=_scoped(cluster, _first(labels, config.topology.rack), nid), host=nid))
    return Inventory(event, price is not None)


def _scoped(cluster: str, value: str | None, fallback: str) -> str:
    """A topology domain named by a label, inside its cluster; a node without the label is a domain of its own."""
    return f"{cluster}/{value}" if value else fallback


def _quantity(resource: str, value) -> int:
    try:
        return parse_quantity(resource, value) if value not in (None, "") else 0
    except QuantityError:
        return 0


def _taints(spec: dict) -> tuple[Taint, ...]:
    out = []
    for t in spec.get("taints") or ():
        if t.get("effect") in ("NoSchedule", "PreferNoSchedule", "NoExecute") and t.get("key"):
            out.append(Taint(key=t["key"], value=t.get("value") or None, effect=t["effect"]))
    return tuple(out)


def inventory_digest(event: NodeInventoried) -> str:
    """Returns a digest of what the inventory says (not when it was said), to publish changes only."""
    body = event.model_dump_json(exclude={"event_id", "occurred_at"})
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class HealthSignals:
    """What a node's object says about its health, apart from the heartbeat."""

    conditions: dict[str, bool]
    since: dict[str, str]  # condition -> lastTransitionTime (RFC 3339, as the API gives it)
    faults: dict[str, str]  # the GPU / disk annotations, verbatim

    def digest(self) -> str:
        return self._digest

    @cached_property
    def _digest(self) -> str:  # once per read of the node: the sweep asks every node's, every second
        return hashlib.sha256(json.dumps([self.conditions, self.faults], sort_keys=True).encode()).hexdigest()[:16]


def health_signals(node: dict) -> HealthSignals:
    """Returns the conditions (True/False only; Unknown means no heartbeat, reported as such) and fault
    annotations of ``node``."""
    conditions, since = {}, {}
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") and c.get("status") in ("True", "False"):
            conditions[c["type"]] = c["status"] == "True"
            if c.get("lastTransitionTime"):
                since[c["type"]] = c["lastTransitionTime"]
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return HealthSignals(conditions, since, {k: annotations[k] for k in (XID, XID_GPU, ECC, DISK) if k in annotations})


def health_report(nid: str, signals: HealthSignals, *, heartbeat: bool, at: datetime,
                  to_event_time: Callable[[datetime], datetime], with_faults: bool,
                  running_pods: int | None = None) -> NodeHealthReported:
    """Returns the NodeHealthReported for one report; ``with_faults`` adds the XID/ECC annotations (only when
    they changed, so one fault is one signal, not one per heartbeat)."""
    since = {}
    for kind, text in signals.since.items():
        try:
            since[kind] = to_event_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            continue
    extra: dict = {}
    if with_faults:
        extra = _faults(signals.faults)
    return NodeHealthReported(node_id=nid, occurred_at=at, conditions=signals.conditions, conditions_since=since,
                              heartbeat=heartbeat, running_pods=running_pods, **extra)


def _faults(faults: dict[str, str]) -> dict:
    out: dict = {}
    codes = tuple(int(x) for x in re.findall(r"\d+", faults.get(XID, "")))[:16]
    if codes:
        out["xid_codes"] = codes
    for key, field, high in ((XID_GPU, "gpu", 64), (ECC, "ecc_uncorrectable", 1 << 30),
                             (DISK, "disk_used_percent", 100)):
        value = faults.get(key, "").strip()
        if value.isdigit() and int(value) <= high:
            out[field] = int(value)
    return out
