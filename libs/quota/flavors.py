"""Phase 4, assign flavors: pick a flavor per pod set and resource group, Kueue style.

Flavors are tried in the order the cluster queue lists them. ``flavorFungibility`` decides
whether a flavor that fits only by borrowing (``whenCanBorrow``) or only by preempting
(``whenCanPreempt``) ends the search, or whether the next flavor is tried first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.quota.config import (ClusterQueueSpec, FlavorResource, QuotaConfig, ResourceGroup,
                               WhenCanBorrow, WhenCanPreempt)
from libs.quota.explain import describe_not_covered, describe_shortfall
from libs.quota.outcome import Mode, Reason, Why
from libs.quota.tree import QuotaNode, QuotaTree
from libs.quota.workload import Admission, PodSet, PodSetAssignment, Workload


@dataclass(slots=True)
class FlavorAssignment:
    """The best assignment found for a workload and how well it fits."""

    mode: Mode
    borrowing: bool = False  # admitting it takes quota above the queue's nominal
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
    mode: Mode
    borrowing: bool
    usage: dict[FlavorResource, int]
    why: Why | None


def _group_for(spec: ClusterQueueSpec, resource: str) -> ResourceGroup | None:
    return next((g for g in spec.resource_groups if resource in g.covered_resources), None)


def _try_flavor(tree: QuotaTree, node: QuotaNode, spec: ClusterQueueSpec, flavor: str,
                needs: dict[str, int], held: dict[FlavorResource, int]) -> _Try:
    """Returns how the group's requests fit in one flavor, given what earlier pod sets hold."""
    mode, borrowing, usage, why = Mode.FIT, False, {}, None
    for resource, amount in needs.items():
        fr = (flavor, resource)
        if fr not in node.quotas:
            return _Try(flavor, Mode.NO_FIT, False, {}, Why(Reason.RESOURCE_NOT_COVERED,
                        describe_not_covered(node.name, resource, [flavor])))
        usage[fr] = amount
        total = amount + held.get(fr, 0)
        if total <= tree.available(node, fr):
            borrowing |= node.usage.get(fr, 0) + total > node.subtree.get(fr, 0)
            continue
        sentence = describe_shortfall(tree, node, fr, total)
        if spec.preemption.enabled and total <= tree.potential(node, fr):
            mode, why = min(mode, Mode.PREEMPT), why or Why(Reason.QUOTA_EXHAUSTED, sentence)
        else:
            return _Try(flavor, Mode.NO_FIT, False, usage, Why(Reason.NO_FIT, sentence))
    return _Try(flavor, mode, borrowing, usage, why)


def _better(a: _Try | None, b: _Try) -> bool:
    """True when ``b`` beats ``a``: a better mode, or the same mode without borrowing."""
    if a is None:
        return True
    return (b.mode, not b.borrowing) > (a.mode, not a.borrowing)


def _choose(tree: QuotaTree, node: QuotaNode, spec: ClusterQueueSpec, group: ResourceGroup,
            needs: dict[str, int], held: dict[FlavorResource, int]) -> _Try:
    """Returns the chosen flavor for one group, honouring flavor fungibility."""
    fungibility, best = spec.flavor_fungibility, None
    for flavor_quotas in group.flavors:
        attempt = _try_flavor(tree, node, spec, flavor_quotas.flavor, needs, held)
        if _better(best, attempt):
            best = attempt
        if attempt.mode is Mode.FIT and not attempt.borrowing:
            return attempt
        if attempt.mode is Mode.FIT and fungibility.when_can_borrow is WhenCanBorrow.BORROW:
            return attempt
        if attempt.mode is Mode.PREEMPT and fungibility.when_can_preempt is WhenCanPreempt.PREEMPT:
            return best if best.mode is Mode.FIT else attempt
    return best or _Try("", Mode.NO_FIT, False, {}, Why(Reason.NO_FIT, f"{node.name} lists no flavors"))


def _needs_by_group(spec: ClusterQueueSpec, pod_set: PodSet) -> tuple[dict[int, dict[str, int]], Why | None]:
    """Returns the pod set's totals grouped by resource group index, or why one is uncovered."""
    grouped: dict[int, dict[str, int]] = {}
    wanted = {r: pod_set.total(r) for r in pod_set.requests if pod_set.total(r) > 0}
    if any("pods" in g.covered_resources for g in spec.resource_groups):
        wanted["pods"] = pod_set.count
    for resource, amount in wanted.items():
        group = _group_for(spec, resource)
        if group is None:
            return {}, Why(Reason.RESOURCE_NOT_COVERED, describe_not_covered(spec.name, resource, []))
        grouped.setdefault(spec.resource_groups.index(group), {})[resource] = amount
    return grouped, None


def assign_flavors(tree: QuotaTree, spec: ClusterQueueSpec, workload: Workload) -> FlavorAssignment:
    """Returns the best flavor assignment for every pod set of ``workload`` in its queue."""
    node = tree.queues[spec.name]
    result = FlavorAssignment(Mode.FIT)
    for pod_set in workload.pod_sets:
        grouped, why = _needs_by_group(spec, pod_set)
        if why is not None:
            return FlavorAssignment(Mode.NO_FIT, why=why)
        chosen: dict[str, str] = {}
        ps_usage: dict[FlavorResource, int] = {}
        for index, needs in sorted(grouped.items()):
            attempt = _choose(tree, node, spec, spec.resource_groups[index], needs, result.usage)
            if attempt.mode is Mode.NO_FIT:
                return FlavorAssignment(Mode.NO_FIT, why=attempt.why)
            if attempt.mode is Mode.PREEMPT:
                result.mode, result.why = Mode.PREEMPT, result.why or attempt.why
                result.preempt_for.update(attempt.usage)
            result.borrowing |= attempt.borrowing
            chosen.update({resource: attempt.flavor for resource in needs})
            ps_usage.update(attempt.usage)
        for fr, amount in ps_usage.items():
            result.usage[fr] = result.usage.get(fr, 0) + amount
        result.pod_sets.append(PodSetAssignment(pod_set.name, chosen, ps_usage))
    if result.mode is Mode.PREEMPT:
        result.borrowing = tree.borrows(node, result.usage)
    return result
