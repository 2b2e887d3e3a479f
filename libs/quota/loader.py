"""Reads Kueue-shaped YAML (ResourceFlavor, Cohort, ClusterQueue, LocalQueue,
WorkloadPriorityClass, Configuration) into a validated ``QuotaConfig``. Pure: text in, data out.

Every problem is collected with the document and field it came from, so an admin sees all
mistakes at once: ``ClusterQueue team-a-cq: resourceGroups[0].flavors[1]: unknown flavor "h200"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml

from libs.quota.config import (BorrowWithinCohort, ClusterQueueSpec, CohortSpec, FairPreemptionStrategy,
                               FlavorFungibility, FlavorQuotas, LocalQueue, Preemption, PreemptionPolicy,
                               QueueingStrategy, QuotaConfig, ResourceFlavor, ResourceGroup, ResourceQuota,
                               Timing, WhenCanBorrow, WhenCanPreempt)
from libs.quota.quantity import QuantityError, parse_quantity

KINDS = ("ResourceFlavor", "Cohort", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass",
         "PriorityClass", "Configuration")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class ConfigError(ValueError):
    """Raised with every validation problem found in a set of documents."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid quota configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(slots=True)
class _Ctx:
    """Accumulates problems while parsing; ``where`` prefixes each message."""

    problems: list[str] = field(default_factory=list)
    where: str = ""

    def bad(self, message: str) -> None:
        self.problems.append(f"{self.where}: {message}" if self.where else message)

    def enum(self, cls, value, default, path: str):
        if value is None:
            return default
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            self.bad(f"{path}: {value!r} is not one of {allowed}")
            return default


def parse_duration(value: Any) -> float:
    """Returns seconds for ``300``, ``"300s"``, ``"5m"`` or ``"1h30m"``."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m or 1h")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s


def _resource_groups(ctx: _Ctx, raw: Any, flavors: set[str], in_cohort: bool) -> tuple[ResourceGroup, ...]:
    groups, seen_flavors = [], set()
    for gi, group in enumerate(raw or []):
        covered = tuple(group.get("coveredResources") or [])
        if not covered:
            ctx.bad(f"resourceGroups[{gi}].coveredResources is empty")
        fqs = []
        for fi, fl in enumerate(group.get("flavors") or []):
            path = f"resourceGroups[{gi}].flavors[{fi}]"
            name = fl.get("name")
            if name not in flavors:
                ctx.bad(f"{path}: unknown flavor {name!r}")
            if name in seen_flavors:
                ctx.bad(f"{path}: flavor {name!r} is in more than one resource group")
            seen_flavors.add(name)
            fqs.append(FlavorQuotas(name, _resources(ctx, fl.get("resources") or [], covered, path, in_cohort)))
        groups.append(ResourceGroup(covered, tuple(fqs)))
    return tuple(groups)


def _resources(ctx: _Ctx, raw: list, covered: tuple[str, ...], path: str, in_cohort: bool) -> dict:
    out: dict[str, ResourceQuota] = {}
    for ri, res in enumerate(raw):
        name, rpath = res.get("name"), f"{path}.resources[{ri}]"
        if name not in covered:
            ctx.bad(f"{rpath}: {name!r} is not in coveredResources {list(covered)}")
            continue
        try:
            nominal = parse_quantity(name, res.get("nominalQuota", 0))
            borrow = _opt_quantity(name, res.get("borrowingLimit"))
            lend = _opt_quantity(name, res.get("lendingLimit"))
        except QuantityError as exc:
            ctx.bad(f"{rpath}: {exc}")
            continue
        if (borrow is not None or lend is not None) and not in_cohort:
            ctx.bad(f"{rpath}: borrowingLimit/lendingLimit need a cohort (or parent)")
        if lend is not None and lend > nominal:
            ctx.bad(f"{rpath}: lendingLimit exceeds nominalQuota")
        out[name] = ResourceQuota(nominal, borrow, lend)
    missing = set(covered) - set(out)
    if missing:
        ctx.bad(f"{path}: no quota for covered resources {sorted(missing)}")
    return out


def _opt_quantity(resource: str, value: Any) -> int | None:
    return None if value is None else parse_quantity(resource, value)


def _weight(ctx: _Ctx, spec: dict) -> float:
    raw = (spec.get("fairSharing") or {}).get("weight", 1)
    try:
        weight = float(raw)
    except (TypeError, ValueError):
        weight = -1.0
    if weight < 0:
        ctx.bad(f"fairSharing.weight: {raw!r} must be a non-negative number")
        return 1.0
    return weight


def _preemption(ctx: _Ctx, raw: dict | None) -> Preemption:
    raw = raw or {}
    borrow = raw.get("borrowWithinCohort") or {}
    within = ctx.enum(PreemptionPolicy, raw.get("withinClusterQueue"), PreemptionPolicy.NEVER,
                      "preemption.withinClusterQueue")
    reclaim = ctx.enum(PreemptionPolicy, raw.get("reclaimWithinCohort"), PreemptionPolicy.NEVER,
                       "preemption.reclaimWithinCohort")
    if within is PreemptionPolicy.ANY:
        ctx.bad("preemption.withinClusterQueue: Any is not allowed (use LowerOrNewerEqualPriority)")
    if reclaim is PreemptionPolicy.LOWER_OR_NEWER_EQUAL_PRIORITY:
        ctx.bad("preemption.reclaimWithinCohort: must be Never, LowerPriority or Any")
    policy = ctx.enum(PreemptionPolicy, borrow.get("policy"), PreemptionPolicy.NEVER,
                      "preemption.borrowWithinCohort.policy")
    if policy not in (PreemptionPolicy.NEVER, PreemptionPolicy.LOWER_PRIORITY):
        ctx.bad("preemption.borrowWithinCohort.policy: must be Never or LowerPriority")
    if policy is not PreemptionPolicy.NEVER and reclaim is PreemptionPolicy.NEVER:
        ctx.bad("preemption.borrowWithinCohort needs reclaimWithinCohort other than Never")
    threshold = borrow.get("maxPriorityThreshold")
    return Preemption(within, reclaim, BorrowWithinCohort(policy, None if threshold is None else int(threshold)))


def _cluster_queue(ctx: _Ctx, name: str, spec: dict, flavors: set[str]) -> ClusterQueueSpec:
    cohort = spec.get("cohortName", spec.get("cohort")) or None
    fung = spec.get("flavorFungibility") or {}
    stop = spec.get("stopPolicy", "None")
    if stop not in ("None", "Hold", "HoldAndDrain"):
        ctx.bad(f"stopPolicy: {stop!r} is not one of None, Hold, HoldAndDrain")
    return ClusterQueueSpec(
        name=name, cohort=cohort,
        resource_groups=_resource_groups(ctx, spec.get("resourceGroups"), flavors, cohort is not None),
        queueing_strategy=ctx.enum(QueueingStrategy, spec.get("queueingStrategy"),
                                   QueueingStrategy.BEST_EFFORT_FIFO, "queueingStrategy"),
        preemption=_preemption(ctx, spec.get("preemption")),
        flavor_fungibility=FlavorFungibility(
            ctx.enum(WhenCanBorrow, fung.get("whenCanBorrow"), WhenCanBorrow.BORROW,
                     "flavorFungibility.whenCanBorrow"),
            ctx.enum(WhenCanPreempt, fung.get("whenCanPreempt"), WhenCanPreempt.TRY_NEXT_FLAVOR,
                     "flavorFungibility.whenCanPreempt")),
        fair_weight=_weight(ctx, spec), hold=stop in ("Hold", "HoldAndDrain"))


def _cohort(ctx: _Ctx, name: str, spec: dict, flavors: set[str]) -> CohortSpec:
    parent = spec.get("parentName", spec.get("parent")) or None
    groups = _resource_groups(ctx, spec.get("resourceGroups"), flavors, parent is not None)
    return CohortSpec(name, parent, groups, _weight(ctx, spec))


def _settings(ctx: _Ctx, doc: dict) -> tuple[bool, tuple[FairPreemptionStrategy, ...], Timing]:
    fair = doc.get("fairSharing") or {}
    strategies = tuple(ctx.enum(FairPreemptionStrategy, s, None, "fairSharing.preemptionStrategies")
                       for s in fair.get("preemptionStrategies") or [])
    ready = doc.get("waitForPodsReady") or {}
    requeue = ready.get("requeuingStrategy") or {}
    try:
        timing = Timing(
            backoff_base_seconds=float(requeue.get("backoffBaseSeconds", 10)),
            backoff_max_seconds=float(requeue.get("backoffMaxSeconds", 3600)),
            pods_ready_timeout_seconds=parse_duration(ready.get("timeout", "5m")) if ready.get("enable") else None,
            min_runtime_seconds=parse_duration(doc.get("minimumRuntimeBeforePreemption", 0)))
    except ValueError as exc:
        ctx.bad(str(exc))
        timing = Timing()
    return bool(fair.get("enable")), tuple(s for s in strategies if s is not None), timing


def _check_tree(ctx: _Ctx, cohorts: dict[str, CohortSpec]) -> None:
    for name in cohorts:
        seen, node = {name}, cohorts[name].parent
        while node is not None and node in cohorts:
            if node in seen:
                ctx.bad(f"Cohort {name}: parent chain loops through {node}")
                break
            seen.add(node)
            node = cohorts[node].parent


def _by_kind(ctx: _Ctx, docs: Iterable[Any]) -> dict[str, list[tuple[str, dict]]]:
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
    ctx = _Ctx()
    kinds = _by_kind(ctx, docs)
    flavors = {n: ResourceFlavor(n, dict((d.get("spec") or {}).get("nodeLabels") or {}))
               for n, d in kinds["ResourceFlavor"]}
    cohorts, queues, locals_, priorities = {}, {}, {}, {}
    for n, d in kinds["Cohort"]:
        ctx.where = f"Cohort {n}"
        cohorts[n] = _cohort(ctx, n, d.get("spec") or {}, set(flavors))
    for n, d in kinds["ClusterQueue"]:
        ctx.where = f"ClusterQueue {n}"
        queues[n] = _cluster_queue(ctx, n, d.get("spec") or {}, set(flavors))
    for n, d in kinds["LocalQueue"]:
        ns, cq = (d.get("metadata") or {}).get("namespace", "default"), (d.get("spec") or {}).get("clusterQueue")
        ctx.where = f"LocalQueue {ns}/{n}"
        if cq not in queues:
            ctx.bad(f"spec.clusterQueue {cq!r} is not a ClusterQueue")
        locals_[(ns, n)] = LocalQueue(ns, n, cq)
    for n, d in kinds["WorkloadPriorityClass"] + kinds["PriorityClass"]:
        ctx.where = f"priority class {n}"
        if not isinstance(d.get("value"), int):
            ctx.bad(f"value {d.get('value')!r} must be an integer")
        priorities[n] = int(d.get("value") or 0)
    ctx.where = "Configuration"
    fair, strategies, timing = _settings(ctx, kinds["Configuration"][0][1]) if kinds["Configuration"] else (
        False, (), Timing())
    ctx.where = ""
    _check_tree(ctx, cohorts)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    extra = {"fair_preemption_strategies": strategies} if strategies else {}
    return QuotaConfig(flavors, cohorts, queues, locals_, priorities, fair, timing=timing, **extra)


def load_config(text: str) -> QuotaConfig:
    """Returns the config for a multi-document YAML string (``---`` separated)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError([f"YAML syntax: {exc}"]) from exc
    return load_documents(docs)
