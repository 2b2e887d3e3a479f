"""Phase 4, assign flavors: pick a flavor per pod set and resource group, as Kueue does.

For every flavor the queue lists, in order: skip it when the pod set may not use it
(``eligibility``); otherwise judge each resource: it fits in free quota, or preemption could
make room (the *oracle* looks for real victims: none, in-queue preemption, or reclaim from
the cohort), or it does not fit. ``flavorFungibility`` decides whether a flavor ends the
search (``modes.should_try_next``); otherwise the best flavor seen wins (``modes.is_preferred``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from libs.quota.config import ClusterQueueSpec, FlavorResource, PreemptionPolicy, QuotaConfig, ResourceGroup
from libs.quota.eligibility import flavor_mismatch
from libs.quota.explain import describe_not_covered, describe_shortfall
from libs.quota.modes import BEST, WORST, FlavorFit, Granular, is_preferred, should_try_next, worse
from libs.quota.outcome import Mode, Reason, Why
from libs.quota.tree import QuotaNode, QuotaTree
from libs.quota.workload import Admission, PodSet, PodSetAssignment, Workload

Oracle = Callable[[FlavorResource, int], FlavorFit]  # preemption possible for one (flavor, resource)?
_Short = tuple  # (Reason, (flavor, resource), amount): what is short, put in words only when reported


@dataclass(slots=True)
class FlavorAssignment:
    """The flavor assignment found for a workload and how well it fits."""

    mode: Mode
    borrowing: int = 0  # borrowing level: 0 within the queue's quota, higher from farther cohorts
    pod_sets: list[PodSetAssignment] = field(default_factory=list)
    usage: dict[FlavorResource, int] = field(default_factory=dict)  # total over pod sets
    preempt_for: set[FlavorResource] = field(default_factory=set)  # what preemption must free
    why: Why | None = None  # for NO_FIT and PREEMPT: what is short

    def admission(self, config: QuotaConfig, cluster_queue: str) -> Admission:
        """Returns the admission record for this assignment."""
        flavors = {f for ps in self.pod_sets for f in ps.flavors.values()}
        labels = {f: config.flavors[f].node_labels for f in sorted(flavors) if f in config.flavors}
        return Admission(cluster_queue, tuple(self.pod_sets), labels)


@dataclass(slots=True)
class _Try:
    """One flavor's outcome for one resource group of one pod set."""

    flavor: str
    fit: FlavorFit
    usage: dict[FlavorResource, int]
    preempt_for: set[FlavorResource]
    short: Why | _Short | None  # why it does not simply fit (a Why, or a shortfall put in words later)

    def why(self, ctx: "_Context") -> Why | None:
        if self.short is None or isinstance(self.short, Why):
            return self.short
        reason, fr, amount = self.short
        return Why(reason, describe_shortfall(ctx.tree, ctx.node, fr, amount))


@dataclass(slots=True)
class _Context:
    """What judging one workload's flavors needs."""

    tree: QuotaTree
    node: QuotaNode
    spec: ClusterQueueSpec
    config: QuotaConfig
    oracle: Oracle


def _may_preempt(ctx: _Context, fr: FlavorResource, amount: int, may_reclaim: bool) -> bool:
    """Kueue's condition for asking the oracle: within nominal, reclaimable, or a policy allows it."""
    p = ctx.spec.preemption
    nominal = ctx.node.quotas[fr].nominal
    return (amount <= nominal or may_reclaim or p.within_cluster_queue is not PreemptionPolicy.NEVER
            or p.borrow_within_cohort.policy is not PreemptionPolicy.NEVER
            or (ctx.config.fair_sharing and p.reclaim_within_cohort is not PreemptionPolicy.NEVER))


def _fit_resource(ctx: _Context, fr: FlavorResource, amount: int) -> tuple[FlavorFit, _Short | None]:
    """Returns how ``amount`` of ``fr`` (earlier pod sets included) fits the queue, and what is short."""
    tree, node = ctx.tree, ctx.node
    if amount > tree.potential(node, fr):
        return (Granular.NO_FIT, 0), (Reason.NO_FIT, fr, amount)
    level, may_reclaim = tree.borrowing_level(node, fr, amount)
    if amount <= tree.available(node, fr):
        return (Granular.FIT, level), None
    if _may_preempt(ctx, fr, amount, may_reclaim):
        return ctx.oracle(fr, amount), (Reason.QUOTA_EXHAUSTED, fr, amount)
    return (Granular.NO_FIT, level), (Reason.NO_FIT, fr, amount)


def _try_flavor(ctx: _Context, pod_set: PodSet, flavor: str, needs: dict[str, int],
                held: dict[FlavorResource, int]) -> _Try:
    """Returns how the group's requests fit in one flavor, given what earlier pod sets hold."""
    rf = ctx.config.flavors.get(flavor)
    mismatch = f"flavor {flavor} is not defined" if rf is None else flavor_mismatch(pod_set, rf)
    if mismatch is not None:
        return _Try(flavor, WORST, {}, set(), Why(Reason.NO_FIT, f"{ctx.node.name}: {mismatch}"))
    fit, usage, preempt_for, short = BEST, {}, set(), None
    for resource, amount in needs.items():
        fr = (flavor, resource)
        if fr not in ctx.node.quotas:
            return _Try(flavor, WORST, {}, set(), Why(Reason.RESOURCE_NOT_COVERED,
                        describe_not_covered(ctx.node.name, resource, [flavor])))
        usage[fr] = amount
        resource_fit, resource_short = _fit_resource(ctx, fr, amount + held.get(fr, 0))
        fit, short = worse(fit, resource_fit, ctx.spec.flavor_fungibility), short or resource_short
        if resource_fit[0].public() is Mode.PREEMPT:
            preempt_for.add(fr)
        if fit[0] is Granular.NO_FIT:
            return _Try(flavor, fit, usage, set(), resource_short or short)
    return _Try(flavor, fit, usage, preempt_for, short)


def _choose(ctx: _Context, pod_set: PodSet, group: ResourceGroup, needs: dict[str, int],
            held: dict[FlavorResource, int]) -> _Try:
    """Returns the chosen flavor for one group, honouring flavor fungibility and preference."""
    fungibility, best, first = ctx.spec.flavor_fungibility, None, None
    for flavor_quotas in group.flavors:
        attempt = _try_flavor(ctx, pod_set, flavor_quotas.flavor, needs, held)
        first = first or attempt
        if not should_try_next(attempt.fit, fungibility):
            return attempt
        if best is None or is_preferred(attempt.fit, best.fit, fungibility):
            best = attempt
    if best is None or best.fit[0] is Granular.NO_FIT:
        return first or _Try("", WORST, {}, set(), Why(Reason.NO_FIT, f"{ctx.node.name} lists no flavors"))
    return best


def _group_for(spec: ClusterQueueSpec, resource: str) -> ResourceGroup | None:
    return next((g for g in spec.resource_groups if resource in g.covered_resources), None)


def _needs_by_group(spec: ClusterQueueSpec, pod_set: PodSet,
                    count: int) -> tuple[dict[int, dict[str, int]], Why | None]:
    """Returns the pod set's totals at ``count`` pods grouped by resource group, or why one is uncovered."""
    grouped: dict[int, dict[str, int]] = {}
    wanted = {r: pod_set.total(r, count) for r in pod_set.requests if pod_set.total(r, count) > 0}
    if any("pods" in g.covered_resources for g in spec.resource_groups):
        wanted["pods"] = count
    for resource, amount in wanted.items():
        group = _group_for(spec, resource)
        if group is None:
            return {}, Why(Reason.RESOURCE_NOT_COVERED, describe_not_covered(spec.name, resource, []))
        grouped.setdefault(spec.resource_groups.index(group), {})[resource] = amount
    return grouped, None


def _assign_pod_set(ctx: _Context, pod_set: PodSet, count: int, result: FlavorAssignment) -> bool:
    """Adds one pod set's flavors to ``result``; False when it cannot be placed in any flavor."""
    grouped, why = _needs_by_group(ctx.spec, pod_set, count)
    if why is not None:
        result.mode, result.why = Mode.NO_FIT, why
        return False
    chosen: dict[str, str] = {}
    ps_usage: dict[FlavorResource, int] = {}
    for index, needs in sorted(grouped.items()):
        attempt = _choose(ctx, pod_set, ctx.spec.resource_groups[index], needs, result.usage)
        if attempt.fit[0] is Granular.NO_FIT:
            result.mode, result.why = Mode.NO_FIT, attempt.why(ctx)
            return False
        if attempt.fit[0].public() is Mode.PREEMPT:
            result.mode, result.why = Mode.PREEMPT, result.why or attempt.why(ctx)
        result.preempt_for.update(attempt.preempt_for)
        result.borrowing = max(result.borrowing, attempt.fit[1])
        chosen.update({resource: attempt.flavor for resource in needs})
        ps_usage.update(attempt.usage)
    for fr, amount in ps_usage.items():
        result.usage[fr] = result.usage.get(fr, 0) + amount
    result.pod_sets.append(PodSetAssignment(pod_set.name, chosen, ps_usage, count))
    return True


def assign_flavors(tree: QuotaTree, spec: ClusterQueueSpec, workload: Workload, config: QuotaConfig,
                   oracle: Oracle, counts: Sequence[int] | None = None) -> FlavorAssignment:
    """Returns the flavor assignment for every pod set of ``workload`` at ``counts`` pods (default all)."""
    ctx = _Context(tree, tree.queues[spec.name], spec, config, oracle)
    result = FlavorAssignment(Mode.FIT)
    for i, pod_set in enumerate(workload.pod_sets):
        if not _assign_pod_set(ctx, pod_set, pod_set.count if counts is None else counts[i], result):
            return FlavorAssignment(Mode.NO_FIT, why=result.why)
    return result
