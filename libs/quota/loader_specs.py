"""Turning validated Kueue-shaped specs (loader_schema) into the core's config, checking what spans fields,
with field paths in every problem, e.g. ``spec.resourceGroups[0].flavors[1].name: flavor 'h200' is not defined``."""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.quota import loader_schema as doc
from libs.quota.config import (BorrowWithinCohort, ClusterQueueSpec, CohortSpec, FlavorFungibility, FlavorQuotas,
                               Preemption, PreemptionPolicy, ResourceFlavor, ResourceGroup, ResourceQuota,
                               WhenCanBorrow, WhenCanPreempt)
from libs.quota.eligibility import Taint, Toleration
from libs.quota.quantity import QuantityError, format_quantity, parse_quantity


@dataclass(slots=True)
class Ctx:
    """Accumulates problems while parsing; ``where`` prefixes each message."""

    problems: list[str] = field(default_factory=list)
    where: str = ""

    def bad(self, message: str) -> None:
        self.problems.append(f"{self.where}: {message}" if self.where else message)


def resource_flavor(name: str, spec: doc.ResourceFlavorSpec) -> ResourceFlavor:
    """Returns a ResourceFlavor from its spec (nodeLabels, nodeTaints, tolerations)."""
    taints = tuple(Taint(t.key, t.value, t.effect) for t in spec.node_taints)
    tolerations = tuple(Toleration(t.key, t.operator, t.value, t.effect) for t in spec.tolerations)
    return ResourceFlavor(name, dict(spec.node_labels), taints, tolerations)


def resource_groups(ctx: Ctx, raw: tuple[doc.ResourceGroup, ...], flavors: set[str],
                    in_cohort: bool) -> tuple[ResourceGroup, ...]:
    """Returns the resource groups; reports undefined or repeated flavors and resources without quota."""
    groups, seen_flavors = [], set()
    for gi, group in enumerate(raw):
        if not group.covered_resources:
            ctx.bad(f"spec.resourceGroups[{gi}].coveredResources: is empty")
        fqs = []
        for fi, fl in enumerate(group.flavors):
            path = f"spec.resourceGroups[{gi}].flavors[{fi}]"
            if fl.name not in flavors:
                ctx.bad(f"{path}.name: flavor {fl.name!r} is referenced but not defined (no ResourceFlavor {fl.name})")
            if fl.name in seen_flavors:
                ctx.bad(f"{path}.name: flavor {fl.name!r} is in more than one resource group")
            seen_flavors.add(fl.name)
            fqs.append(FlavorQuotas(fl.name, _resources(ctx, fl.resources, group.covered_resources, path, in_cohort)))
        groups.append(ResourceGroup(group.covered_resources, tuple(fqs)))
    return tuple(groups)


def _resources(ctx: Ctx, raw: tuple[doc.ResourceQuota, ...], covered: tuple[str, ...], path: str,
               in_cohort: bool) -> dict[str, ResourceQuota]:
    out: dict[str, ResourceQuota] = {}
    for ri, res in enumerate(raw):
        name, rpath = res.name, f"{path}.resources[{ri}]"
        if name not in covered:
            ctx.bad(f"{rpath}.name: {name!r} is not in coveredResources {list(covered)}")
            continue
        try:  # the schema checked each is a quantity; as millicores (cpu) it may still be too large
            nominal = parse_quantity(name, res.nominal_quota)
            borrow = None if res.borrowing_limit is None else parse_quantity(name, res.borrowing_limit)
            lend = None if res.lending_limit is None else parse_quantity(name, res.lending_limit)
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


def _preemption(ctx: Ctx, raw: doc.Preemption) -> Preemption:
    within, reclaim, policy = raw.within_cluster_queue, raw.reclaim_within_cohort, raw.borrow_within_cohort.policy
    if within is PreemptionPolicy.ANY:
        ctx.bad("spec.preemption.withinClusterQueue: Any is not allowed (use LowerOrNewerEqualPriority)")
    if reclaim is PreemptionPolicy.LOWER_OR_NEWER_EQUAL_PRIORITY:
        ctx.bad("spec.preemption.reclaimWithinCohort: must be Never, LowerPriority or Any")
    if policy not in (PreemptionPolicy.NEVER, PreemptionPolicy.LOWER_PRIORITY):
        ctx.bad("spec.preemption.borrowWithinCohort.policy: must be Never or LowerPriority")
    if policy is not PreemptionPolicy.NEVER and reclaim is PreemptionPolicy.NEVER:
        ctx.bad("spec.preemption.borrowWithinCohort: needs reclaimWithinCohort other than Never")
    return Preemption(within, reclaim, BorrowWithinCohort(policy, raw.borrow_within_cohort.max_priority_threshold))


def _fungibility(ctx: Ctx, raw: doc.FlavorFungibility) -> FlavorFungibility:
    if raw.preference is not None and not (raw.when_can_borrow is WhenCanBorrow.TRY_NEXT_FLAVOR
                                           and raw.when_can_preempt is WhenCanPreempt.TRY_NEXT_FLAVOR):
        ctx.bad("spec.flavorFungibility.preference: may be set only when whenCanBorrow and whenCanPreempt "
                "are both TryNextFlavor")
    return FlavorFungibility(raw.when_can_borrow, raw.when_can_preempt, raw.preference)


def cluster_queue(ctx: Ctx, name: str, spec: doc.ClusterQueueSpec, flavors: set[str]) -> ClusterQueueSpec:
    """Returns the cluster queue of a validated spec; reports what spans fields."""
    cohort = spec.cohort_name or spec.cohort or None
    return ClusterQueueSpec(
        name=name, cohort=cohort,
        resource_groups=resource_groups(ctx, spec.resource_groups, flavors, cohort is not None),
        queueing_strategy=spec.queueing_strategy, preemption=_preemption(ctx, spec.preemption),
        flavor_fungibility=_fungibility(ctx, spec.flavor_fungibility), fair_weight=spec.fair_sharing.weight,
        hold=spec.stop_policy in ("Hold", "HoldAndDrain"),
        admission_fair_sharing=spec.admission_scope.admission_mode != "NoAdmissionFairSharing")


def cohort(ctx: Ctx, name: str, spec: doc.CohortSpec, flavors: set[str]) -> CohortSpec:
    """Returns the cohort of a validated spec; reports what spans fields."""
    parent = spec.parent_name or spec.parent or None
    groups = resource_groups(ctx, spec.resource_groups, flavors, parent is not None)
    return CohortSpec(name, parent, groups, spec.fair_sharing.weight)
