"""Reads Kueue-shaped YAML (ResourceFlavor, Cohort, ClusterQueue, LocalQueue,
WorkloadPriorityClass, Configuration) into a validated ``QuotaConfig``. Pure: text in, data out.

Each document is validated by its pydantic model (loader_schema: unknown fields refused), then what spans
fields and documents is checked (loader_specs, and here: references, duplicates, the cohort tree). Every
problem is collected with the document and field it came from, so an admin sees all mistakes at once:
``ClusterQueue team-a-cq: spec.resourceGroups[0].flavors[1].name: flavor 'h200' is referenced but not defined``.
"""

from __future__ import annotations

from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from libs.events.validation import problems
from libs.quota.config import AdmissionFairSharing, CohortSpec, LocalQueue, QuotaConfig, Timing
from libs.quota.loader_configuration import ConfigurationDoc
from libs.quota.loader_schema import (ClusterQueueDoc, CohortDoc, Document, LocalQueueDoc, PriorityClassDoc,
                                      ResourceFlavorDoc)
from libs.quota.loader_specs import Ctx, cluster_queue, cohort, resource_flavor
from libs.quota.quantity import parse_duration

__all__ = ["KINDS", "ConfigError", "load_config", "load_documents", "parse_duration"]

DOCUMENTS: dict[str, type[Document]] = {
    "ResourceFlavor": ResourceFlavorDoc, "Cohort": CohortDoc, "ClusterQueue": ClusterQueueDoc,
    "LocalQueue": LocalQueueDoc, "WorkloadPriorityClass": PriorityClassDoc, "PriorityClass": PriorityClassDoc,
    "Configuration": ConfigurationDoc}
KINDS = tuple(DOCUMENTS)
UNKNOWN = "not a Kueue field batchyard reads"


class ConfigError(ValueError):
    """Raised with every validation problem found in a set of documents."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid quota configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


def _where(i: int, raw: dict) -> str:
    """Returns how problems name a document: ``ClusterQueue team-a``, ``LocalQueue ns/q`` or ``document 3``."""
    meta = raw.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    ns = meta.get("namespace", "default") if isinstance(meta, dict) else "default"
    kind = raw["kind"]
    if kind == "Configuration":
        return kind
    if not isinstance(name, str) or not isinstance(ns, str):
        return f"document {i} ({kind})"
    return f"LocalQueue {ns}/{name}" if kind == "LocalQueue" else f"{kind} {name}"


def _validate(ctx: Ctx, docs: Iterable[Any]) -> tuple[dict[str, list[tuple[str, Any]]], dict[str, set[str]]]:
    """Returns the valid documents by kind as (where, model), and the names of every document by kind (valid or
    not, so a reference to a document with a mistake is not reported as a second one)."""
    out: dict[str, list[tuple[str, Any]]] = {k: [] for k in KINDS}
    names: dict[str, set[str]] = {k: set() for k in KINDS}
    seen: set[tuple[str, str, str]] = set()
    for i, raw in enumerate(d for d in docs if d is not None):
        kind, ctx.where = (raw.get("kind") if isinstance(raw, dict) else None), ""
        if not isinstance(kind, str) or kind not in DOCUMENTS:
            ctx.bad(f"document {i}: kind {kind if isinstance(raw, dict) else raw!r} is not one of {', '.join(KINDS)}")
            continue
        ctx.where = _where(i, raw)
        if isinstance(raw.get("metadata"), dict) and isinstance(raw["metadata"].get("name"), str):
            names[kind].add(raw["metadata"]["name"])
        try:
            model: Document = DOCUMENTS[kind].model_validate(raw)
        except ValidationError as exc:
            ctx.problems.extend(f"{ctx.where}: {p}" for p in problems(exc, unknown=UNKNOWN))
            continue
        if not model.metadata.name and kind != "Configuration":
            ctx.bad("metadata.name: is required")
            continue
        key = (kind, model.metadata.namespace or "", model.metadata.name or "")
        if key in seen:
            ctx.bad("defined twice")
        seen.add(key)
        out[kind].append((ctx.where, model))
    return out, names


def _timing(c: ConfigurationDoc) -> Timing:
    ready, requeue = c.wait_for_pods_ready, c.wait_for_pods_ready.requeuing_strategy
    return Timing(backoff_base_seconds=requeue.backoff_base_seconds, backoff_max_seconds=requeue.backoff_max_seconds,
                  pods_ready_timeout_seconds=ready.timeout if ready.enable else None,
                  min_runtime_seconds=c.minimum_runtime_before_preemption,
                  order_by_eviction=requeue.timestamp != "Creation")


def _admission_fair_sharing(c: ConfigurationDoc) -> AdmissionFairSharing | None:
    afs = c.admission_fair_sharing
    return None if afs is None else AdmissionFairSharing(afs.usage_half_life_time, afs.usage_sampling_interval,
                                                         dict(afs.resource_weights))


def _check_tree(ctx: Ctx, cohorts: dict[str, CohortSpec]) -> None:
    """Refuses cohort parent chains that loop (cohorts must form a tree), naming the loop."""
    reported: set[str] = set()
    for name in sorted(cohorts):
        chain, node = [name], cohorts[name].parent
        while node is not None and node in cohorts and node not in chain:
            chain.append(node)
            node = cohorts[node].parent
        if node is not None and node in chain and node not in reported:
            loop = chain[chain.index(node):] + [node]
            reported.update(loop)
            ctx.bad(f"Cohort {node}: spec.parentName: cohort cycle {' → '.join(loop)} "
                    "(parent chain loops: cohorts must form a tree)")


def load_documents(docs: Iterable[Any]) -> QuotaConfig:
    """Returns the config for parsed YAML documents; raises ``ConfigError`` listing every problem."""
    ctx = Ctx()
    kinds, names = _validate(ctx, docs)
    flavors = {}
    for ctx.where, d in kinds["ResourceFlavor"]:
        flavors[d.metadata.name] = resource_flavor(d.metadata.name, d.spec)
    cohorts, queues, locals_ = {}, {}, {}
    for ctx.where, d in kinds["Cohort"]:
        cohorts[d.metadata.name] = cohort(ctx, d.metadata.name, d.spec, names["ResourceFlavor"])
    for ctx.where, d in kinds["ClusterQueue"]:
        queues[d.metadata.name] = cluster_queue(ctx, d.metadata.name, d.spec, names["ResourceFlavor"])
    for ctx.where, d in kinds["LocalQueue"]:
        ns, cq = d.metadata.namespace or "default", d.spec.cluster_queue
        if cq not in names["ClusterQueue"]:
            ctx.bad(f"spec.clusterQueue: {cq!r} is not a ClusterQueue")
        locals_[(ns, d.metadata.name)] = LocalQueue(ns, d.metadata.name, cq, d.spec.fair_sharing.weight)
    priorities = {d.metadata.name: d.value for _, d in kinds["WorkloadPriorityClass"] + kinds["PriorityClass"]}
    config = kinds["Configuration"][0][1] if kinds["Configuration"] else ConfigurationDoc(kind="Configuration")
    ctx.where = ""
    _check_tree(ctx, cohorts)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    strategies = config.fair_sharing.preemption_strategies
    extra = {"fair_preemption_strategies": strategies} if strategies else {}
    return QuotaConfig(flavors, cohorts, queues, locals_, priorities, config.fair_sharing.enable,
                       timing=_timing(config), admission_fair_sharing=_admission_fair_sharing(config), **extra)


def load_config(text: str) -> QuotaConfig:
    """Returns the config for a multi-document YAML string (``---`` separated)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError([f"YAML syntax: {exc}"]) from exc
    return load_documents(docs)
