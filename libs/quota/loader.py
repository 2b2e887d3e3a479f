"""Reads Kueue-shaped YAML (ResourceFlavor, Cohort, ClusterQueue, LocalQueue,
WorkloadPriorityClass, Configuration) into a validated ``QuotaConfig``. Pure: text in, data out.

Every problem is collected with the document and field it came from, so an admin sees all
mistakes at once, each with its field path and the reason:
``ClusterQueue team-a-cq: spec.resourceGroups[0].flavors[1].name: flavor 'h200' is referenced but not defined``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import yaml

from libs.quota.config import AdmissionFairSharing, CohortSpec, FairPreemptionStrategy, LocalQueue, QuotaConfig, Timing
from libs.quota.loader_specs import Ctx, cluster_queue, cohort, refuse_unsupported, resource_flavor, weight

KINDS = ("ResourceFlavor", "Cohort", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass",
         "PriorityClass", "Configuration")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class ConfigError(ValueError):
    """Raised with every validation problem found in a set of documents."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid quota configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


def parse_duration(value: Any) -> float:
    """Returns seconds for ``300``, ``"300s"``, ``"5m"`` or ``"1h30m"``."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m or 1h")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s


def _settings(ctx: Ctx, doc: dict) -> tuple[bool, tuple[FairPreemptionStrategy, ...], Timing]:
    fair = doc.get("fairSharing") or {}
    strategies = tuple(ctx.enum(FairPreemptionStrategy, s, None, "fairSharing.preemptionStrategies")
                       for s in fair.get("preemptionStrategies") or [])
    ready = doc.get("waitForPodsReady") or {}
    requeue = ready.get("requeuingStrategy") or {}
    _refuse_unhonoured(ctx, ready, requeue)
    try:
        timing = Timing(
            backoff_base_seconds=float(requeue.get("backoffBaseSeconds", 10)),
            backoff_max_seconds=float(requeue.get("backoffMaxSeconds", 3600)),
            pods_ready_timeout_seconds=parse_duration(ready.get("timeout", "5m")) if ready.get("enable") else None,
            min_runtime_seconds=parse_duration(doc.get("minimumRuntimeBeforePreemption", 0)),
            order_by_eviction=_requeue_timestamp(ctx, requeue.get("timestamp", "Eviction")))
    except ValueError as exc:
        ctx.bad(str(exc))
        timing = Timing()
    return bool(fair.get("enable")), tuple(s for s in strategies if s is not None), timing


_READY_FIELDS = {"enable", "timeout", "blockAdmission", "recoveryTimeout", "requeuingStrategy"}
_REQUEUE_FIELDS = {"timestamp", "backoffBaseSeconds", "backoffMaxSeconds", "backoffLimitCount"}


def _refuse_unhonoured(ctx: Ctx, ready: dict, requeue: dict) -> None:
    """Kueue's waitForPodsReady fields that batchyard does not honour are refused, not silently ignored."""
    for name in sorted(set(ready) - _READY_FIELDS):
        ctx.bad(f"waitForPodsReady.{name}: not a Kueue field")
    for name in sorted(set(requeue) - _REQUEUE_FIELDS):
        ctx.bad(f"waitForPodsReady.requeuingStrategy.{name}: not a Kueue field")
    if ready.get("blockAdmission"):
        ctx.bad("waitForPodsReady.blockAdmission: not supported (batchyard admits while earlier workloads' pods "
                "start; set it false or leave it out)")
    if ready.get("recoveryTimeout") is not None:
        ctx.bad("waitForPodsReady.recoveryTimeout: not supported (a workload whose pods stop being ready is not "
                "evicted by quota)")
    if requeue.get("backoffLimitCount") is not None:
        ctx.bad("waitForPodsReady.requeuingStrategy.backoffLimitCount: not supported (a timed-out workload is "
                "requeued with backoff without limit)")


def _requeue_timestamp(ctx: Ctx, value: str) -> bool:
    if value not in ("Eviction", "Creation"):
        ctx.bad(f"waitForPodsReady.requeuingStrategy.timestamp: {value!r} is not one of Creation, Eviction")
    return value != "Creation"


def _admission_fair_sharing(ctx: Ctx, doc: dict) -> AdmissionFairSharing | None:
    raw = doc.get("admissionFairSharing")
    if raw is None:
        return None
    try:
        weights = {str(k): float(v) for k, v in (raw.get("resourceWeights") or {}).items()}
        return AdmissionFairSharing(parse_duration(raw.get("usageHalfLifeTime", "168h")),
                                    parse_duration(raw.get("usageSamplingInterval", "5m")), weights)
    except (TypeError, ValueError) as exc:
        ctx.bad(f"admissionFairSharing: {exc}")
        return None


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


def _by_kind(ctx: Ctx, docs: Iterable[Any]) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {k: [] for k in KINDS}
    names: set[tuple[str, str, str]] = set()
    for i, doc in enumerate(d for d in docs if d is not None):
        if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
            ctx.bad(f"document {i}: kind {doc.get('kind') if isinstance(doc, dict) else doc!r} "
                    f"is not one of {', '.join(KINDS)}")
            continue
        meta = doc.get("metadata") or {}
        name, kind = meta.get("name"), doc["kind"]
        if not name and kind != "Configuration":
            ctx.bad(f"document {i}: {kind} without metadata.name")
            continue
        key = (kind, meta.get("namespace", ""), name or "")
        if key in names:
            ctx.bad(f"{kind} {name}: defined twice")
        names.add(key)
        out[kind].append((name or "", doc))
    return out


def load_documents(docs: Iterable[Any]) -> QuotaConfig:
    """Returns the config for parsed YAML documents; raises ``ConfigError`` listing every problem."""
    ctx = Ctx()
    kinds = _by_kind(ctx, docs)
    flavors = {}
    for n, d in kinds["ResourceFlavor"]:
        ctx.where = f"ResourceFlavor {n}"
        refuse_unsupported(ctx, "ResourceFlavor", d.get("spec") or {})
        flavors[n] = resource_flavor(n, d.get("spec") or {})
    cohorts, queues, locals_, priorities = {}, {}, {}, {}
    for n, d in kinds["Cohort"]:
        ctx.where = f"Cohort {n}"
        cohorts[n] = cohort(ctx, n, d.get("spec") or {}, set(flavors))
    for n, d in kinds["ClusterQueue"]:
        ctx.where = f"ClusterQueue {n}"
        refuse_unsupported(ctx, "ClusterQueue", d.get("spec") or {})
        queues[n] = cluster_queue(ctx, n, d.get("spec") or {}, set(flavors))
    for n, d in kinds["LocalQueue"]:
        spec = d.get("spec") or {}
        ns, cq = (d.get("metadata") or {}).get("namespace", "default"), spec.get("clusterQueue")
        ctx.where = f"LocalQueue {ns}/{n}"
        refuse_unsupported(ctx, "LocalQueue", spec)
        if cq not in queues:
            ctx.bad(f"spec.clusterQueue: {cq!r} is not a ClusterQueue")
        locals_[(ns, n)] = LocalQueue(ns, n, cq, weight(ctx, spec))
    for n, d in kinds["WorkloadPriorityClass"] + kinds["PriorityClass"]:
        ctx.where = f"priority class {n}"
        if not isinstance(d.get("value"), int):
            ctx.bad(f"value: {d.get('value')!r} must be an integer")
        priorities[n] = int(d.get("value") or 0)
    ctx.where = "Configuration"
    doc = kinds["Configuration"][0][1] if kinds["Configuration"] else {}
    fair, strategies, timing = _settings(ctx, doc)
    afs = _admission_fair_sharing(ctx, doc)
    ctx.where = ""
    _check_tree(ctx, cohorts)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    extra = {"fair_preemption_strategies": strategies} if strategies else {}
    return QuotaConfig(flavors, cohorts, queues, locals_, priorities, fair, timing=timing,
                       admission_fair_sharing=afs, **extra)


def load_config(text: str) -> QuotaConfig:
    """Returns the config for a multi-document YAML string (``---`` separated)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError([f"YAML syntax: {exc}"]) from exc
    return load_documents(docs)
