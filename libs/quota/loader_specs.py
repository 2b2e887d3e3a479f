"""Parsing one Kueue-shaped spec (ResourceFlavor, ClusterQueue, Cohort) with field paths in every
problem, e.g. ``spec.resourceGroups[0].flavors[1].name: flavor 'h200' is not defined``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from libs.quota.config import (BorrowWithinCohort, ClusterQueueSpec, CohortSpec, FlavorFungibility, FlavorQuotas,
                               FungibilityPreference, Preemption, PreemptionPolicy, QueueingStrategy,
                               ResourceFlavor, ResourceGroup, ResourceQuota, WhenCanBorrow, WhenCanPreempt)
from libs.quota.eligibility import Taint, Toleration
from libs.quota.quantity import QuantityError, format_quantity, parse_quantity


@dataclass(slots=True)
class Ctx:
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
            allowed = ", ".join(sorted({m.value for m in cls}))
            self.bad(f"{path}: {value!r} is not one of {allowed}")
            return default


UNSUPPORTED = {  # fields that would change admission if honoured; refused rather than ignored
    "ResourceFlavor": ("topologyName", "resourceWeights"),
    "ClusterQueue": ("namespaceSelector", "admissionChecks", "admissionChecksStrategy"),
    "LocalQueue": ("stopPolicy",),
}


def refuse_unsupported(ctx: Ctx, kind: str, spec: dict) -> None:
    """Reports Kueue fields batchyard does not implement (empty values, e.g. ``namespaceSelector: {}``, pass)."""
    for key in UNSUPPORTED.get(kind, ()):
        value = spec.get(key)
        if value and not (key == "stopPolicy" and value == "None"):
            ctx.bad(f"spec.{key}: not supported by batchyard (docs/quota.md, Kueue compatibility)")


def resource_flavor(name: str, spec: dict) -> ResourceFlavor:
    """Returns a ResourceFlavor from its spec (nodeLabels, nodeTaints, tolerations)."""
    taints = tuple(Taint(t.get("key", ""), str(t.get("value", "")), t.get("effect", "NoSchedule"))
                   for t in spec.get("nodeTaints") or ())
    tolerations = tuple(Toleration(t.get("key", ""), t.get("operator", "Equal"), str(t.get("value", "")),
                                   t.get("effect", "")) for t in spec.get("tolerations") or ())
    return ResourceFlavor(name, dict(spec.get("nodeLabels") or {}), taints, tolerations)


def resource_groups(ctx: Ctx, raw: Any, flavors: set[str], in_cohort: bool) -> tuple[ResourceGroup, ...]:
    groups, seen_flavors = [], set()
    for gi, group in enumerate(raw or []):
        covered = tuple(group.get("coveredResources") or [])
        if not covered:
            ctx.bad(f"spec.resourceGroups[{gi}].coveredResources: is empty")
        fqs = []
        for fi, fl in enumerate(group.get("flavors") or []):
            path = f"spec.resourceGroups[{gi}].flavors[{fi}]"
            name = fl.get("name")
            if name not in flavors:
                ctx.bad(f"{path}.name: flavor {name!r} is referenced but not defined (no ResourceFlavor {name})")
            if name in seen_flavors:
                ctx.bad(f"{path}.name: flavor {name!r} is in more than one resource group")
            seen_flavors.add(name)
            fqs.append(FlavorQuotas(name, _resources(ctx, fl.get("resources") or [], covered, path, in_cohort)))
        groups.append(ResourceGroup(covered, tuple(fqs)))
    return tuple(groups)


def _resources(ctx: Ctx, raw: list, covered: tuple[str, ...], path: str, in_cohort: bool) -> dict:
    out: dict[str, ResourceQuota] = {}
    for ri, res in enumerate(raw):
        name, rpath = res.get("name"), f"{path}.resources[{ri}]"
        if name not in covered:
            ctx.bad(f"{rpath}.name: {name!r} is not in coveredResources {list(covered)}")
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
            ctx.bad(f"{rpath}.lendingLimit: {format_quantity(name, lend)} exceeds nominalQuota "
                    f"{format_quantity(name, nominal)} (lendingLimit exceeds nominalQuota: "
                    "a queue cannot lend more than it has)")
        out[name] = ResourceQuota(nominal, borrow, lend)
    missing = set(covered) - set(out)
    if missing:
        ctx.bad(f"{path}.resources: no quota for covered resources {sorted(missing)}")
    return out


def _opt_quantity(resource: str, value: Any) -> int | None:
    return None if value is None else parse_quantity(resource, value)


def weight(ctx: Ctx, spec: dict) -> float:
    raw = (spec.get("fairSharing") or {}).get("weight", 1)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if value < 0:
        ctx.bad(f"spec.fairSharing.weight: {raw!r} must be a non-negative number")
        return 1.0
    return value


def _preemption(ctx: Ctx, raw: dict | None) -> Preemption:
    raw = raw or {}
    borrow = raw.get("borrowWithinCohort") or {}
    within = ctx.enum(PreemptionPolicy, raw.get("withinClusterQueue"), PreemptionPolicy.NEVER,
                      "spec.preemption.withinClusterQueue")
    reclaim = ctx.enum(PreemptionPolicy, raw.get("reclaimWithinCohort"), PreemptionPolicy.NEVER,
                       "spec.preemption.reclaimWithinCohort")
    if within is PreemptionPolicy.ANY:
        ctx.bad("spec.preemption.withinClusterQueue: Any is not allowed (use LowerOrNewerEqualPriority)")
    if reclaim is PreemptionPolicy.LOWER_OR_NEWER_EQUAL_PRIORITY:
        ctx.bad("spec.preemption.reclaimWithinCohort: must be Never, LowerPriority or Any")
    policy = ctx.enum(PreemptionPolicy, borrow.get("policy"), PreemptionPolicy.NEVER,
                      "spec.preemption.borrowWithinCohort.policy")
    if policy not in (PreemptionPolicy.NEVER, PreemptionPolicy.LOWER_PRIORITY):
        ctx.bad("spec.preemption.borrowWithinCohort.policy: must be Never or LowerPriority")
    if policy is not PreemptionPolicy.NEVER and reclaim is PreemptionPolicy.NEVER:
        ctx.bad("spec.preemption.borrowWithinCohort: needs reclaimWithinCohort other than Never")
    threshold = borrow.get("maxPriorityThreshold")
    return Preemption(within, reclaim, BorrowWithinCohort(policy, None if threshold is None else int(threshold)))


def _fungibility(ctx: Ctx, raw: dict | None) -> FlavorFungibility:
    raw = raw or {}
    borrow = ctx.enum(WhenCanBorrow, raw.get("whenCanBorrow"), WhenCanBorrow.MAY_STOP_SEARCH,
                      "spec.flavorFungibility.whenCanBorrow")
    preempt = ctx.enum(WhenCanPreempt, raw.get("whenCanPreempt"), WhenCanPreempt.TRY_NEXT_FLAVOR,
                       "spec.flavorFungibility.whenCanPreempt")
    preference = ctx.enum(FungibilityPreference, raw.get("preference"), None, "spec.flavorFungibility.preference")
    if preference is not None and not (borrow is WhenCanBorrow.TRY_NEXT_FLAVOR
                                       and preempt is WhenCanPreempt.TRY_NEXT_FLAVOR):
        ctx.bad("spec.flavorFungibility.preference: may be set only when whenCanBorrow and whenCanPreempt "
                "are both TryNextFlavor")
    return FlavorFungibility(borrow, preempt, preference)


def _admission_scope(ctx: Ctx, raw: dict | None) -> bool:
    mode = (raw or {}).get("admissionMode", "NoAdmissionFairSharing")
    usage_based = ("UsageBasedAdmissionFairSharing", "UsageBasedFairSharing")
    if mode not in (*usage_based, "NoAdmissionFairSharing"):
        ctx.bad(f"spec.admissionScope.admissionMode: {mode!r} is not one of NoAdmissionFairSharing, "
                "UsageBasedAdmissionFairSharing")
    return mode in usage_based


def cluster_queue(ctx: Ctx, name: str, spec: dict, flavors: set[str]) -> ClusterQueueSpec:
    cohort = spec.get("cohortName", spec.get("cohort")) or None
    stop = spec.get("stopPolicy", "None")
    if stop not in ("None", "Hold", "HoldAndDrain"):
        ctx.bad(f"spec.stopPolicy: {stop!r} is not one of None, Hold, HoldAndDrain")
    return ClusterQueueSpec(
        name=name, cohort=cohort,
        resource_groups=resource_groups(ctx, spec.get("resourceGroups"), flavors, cohort is not None),
        queueing_strategy=ctx.enum(QueueingStrategy, spec.get("queueingStrategy"),
                                   QueueingStrategy.BEST_EFFORT_FIFO, "spec.queueingStrategy"),
        preemption=_preemption(ctx, spec.get("preemption")),
        flavor_fungibility=_fungibility(ctx, spec.get("flavorFungibility")),
        fair_weight=weight(ctx, spec), hold=stop in ("Hold", "HoldAndDrain"),
        admission_fair_sharing=_admission_scope(ctx, spec.get("admissionScope")))


def cohort(ctx: Ctx, name: str, spec: dict, flavors: set[str]) -> CohortSpec:
    parent = spec.get("parentName", spec.get("parent")) or None
    groups = resource_groups(ctx, spec.get("resourceGroups"), flavors, parent is not None)
    return CohortSpec(name, parent, groups, weight(ctx, spec))
