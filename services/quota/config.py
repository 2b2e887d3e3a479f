"""Reads the Kueue-shaped quota YAML (ResourceFlavor, ClusterQueue, LocalQueue) into flat quota config."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RESOURCES = ("cpu", "memory", "nvidia.com/gpu", "pods")
_SUFFIX = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
           "m": 1e-3}


class QuotaConfigError(ValueError):
    """The quota YAML is invalid; the message names the object and field."""


def parse_quantity(resource: str, value) -> int:
    """Returns a Kubernetes quantity in batchyard units: cpu → milli-cores, memory → MiB, others → count."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2) not in _SUFFIX:
        raise QuotaConfigError(f"{resource}: cannot read quantity {value!r}")
    amount = float(match.group(1)) * _SUFFIX[match.group(2)]
    if resource == "cpu":
        return round(amount * 1000)
    if resource == "memory":
        return round(amount / 2**20)
    return round(amount)


@dataclass(frozen=True)
class Flavor:
    name: str
    cluster: str | None
    pool: str | None
    gpu_model: str | None


@dataclass(frozen=True)
class ClusterQueue:
    name: str
    cohort: str | None
    nominal: dict[str, dict[str, int]]  # flavor → resource → amount, in flavor order


@dataclass(frozen=True)
class QuotaConfig:
    flavors: dict[str, Flavor]
    cluster_queues: dict[str, ClusterQueue]
    local_queues: dict[tuple[str, str], str] = field(default_factory=dict)  # (team, queue) → cluster queue


def load_quota_config(path: str | Path) -> QuotaConfig:
    """Returns the quota config in ``path``; raises QuotaConfigError naming what is wrong."""
    try:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise QuotaConfigError(f"{path}: {exc}") from None
    flavors, queues, locals_ = {}, {}, {}
    for doc in docs:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        spec = doc.get("spec") or {}
        if not name:
            raise QuotaConfigError(f"{path}: a {kind} has no metadata.name")
        if kind == "ResourceFlavor":
            labels = spec.get("nodeLabels") or {}
            flavors[name] = Flavor(name, labels.get("batchyard.dev/cluster"), labels.get("batchyard.dev/pool"),
                                   labels.get("batchyard.dev/gpu-model"))
        elif kind == "ClusterQueue":
            queues[name] = _cluster_queue(name, spec)
        elif kind == "LocalQueue":
            locals_[(doc["metadata"].get("namespace", "default"), name)] = spec.get("clusterQueue")
        else:
            raise QuotaConfigError(f"{path}: unknown kind {kind!r} ({name})")
    for cq in queues.values():
        for flavor in cq.nominal:
            if flavor not in flavors:
                raise QuotaConfigError(f"ClusterQueue {cq.name} uses unknown ResourceFlavor {flavor}")
    for key, cq in locals_.items():
        if cq not in queues:
            raise QuotaConfigError(f"LocalQueue {key[0]}/{key[1]} points at unknown ClusterQueue {cq}")
    return QuotaConfig(flavors, queues, locals_)


def _cluster_queue(name: str, spec: dict) -> ClusterQueue:
    nominal: dict[str, dict[str, int]] = {}
    for group in spec.get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            amounts = nominal.setdefault(flavor["name"], {})
            for res in flavor.get("resources") or []:
                amounts[res["name"]] = parse_quantity(res["name"], res["nominalQuota"])
    return ClusterQueue(name, spec.get("cohort"), nominal)
