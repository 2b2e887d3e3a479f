"""Fluent builders for tests, benchmarks and replays (Kueue's ``utiltesting`` style).

    make_workload("low").priority(-1).request(cpu="2").obj()
    make_cluster_queue("team-a-cq").cohort("team-ab").flavor("default", cpu=quota(9, borrow=1)).obj()
"""

from __future__ import annotations

from dataclasses import replace
from typing import Self

from libs.quota.config import (BorrowWithinCohort, ClusterQueueSpec, CohortSpec, FlavorFungibility,
                               FlavorQuotas, FungibilityPreference, LocalQueue, Preemption, PreemptionPolicy,
                               QueueingStrategy, ResourceGroup, ResourceQuota, WhenCanBorrow, WhenCanPreempt)
from libs.quota.eligibility import NodeSelectorRequirement, SelectorOperator, Toleration
from libs.quota.quantity import parse_quantity
from libs.quota.workload import PodSet, Workload

ALIASES = {"gpu": "nvidia.com/gpu"}  # kwargs cannot contain dots or slashes


def _resource(name: str) -> str:
    return ALIASES.get(name, name)


def quota(nominal, borrow=None, lend=None) -> tuple:
    """Returns a quota spec (nominal, borrowingLimit, lendingLimit) as raw quantities."""
    return (nominal, borrow, lend)


def _resource_quota(resource: str, value) -> ResourceQuota:
    nominal, borrow, lend = (tuple(value) + (None, None))[:3] if isinstance(value, tuple) else (value, None, None)
    parse = lambda v: None if v is None else parse_quantity(resource, v)  # noqa: E731
    return ResourceQuota(parse_quantity(resource, nominal), parse(borrow), parse(lend))


class _QuotaHolder:
    """Shared building for cluster queues and cohorts: resource groups, fair weight, ``obj()``."""

    def __init__(self, spec: ClusterQueueSpec | CohortSpec) -> None:
        self._spec = spec
        self._groups: list[ResourceGroup] = []

    def flavor(self, name: str, **quotas) -> "_QuotaHolder":
        """Adds a flavor to the group covering exactly these resources (made if missing)."""
        resources = {_resource(k): _resource_quota(_resource(k), v) for k, v in quotas.items()}
        covered = tuple(resources)
        fq = FlavorQuotas(name, resources)
        for i, group in enumerate(self._groups):
            if set(group.covered_resources) == set(covered):
                self._groups[i] = replace(group, flavors=group.flavors + (fq,))
                return self
        self._groups.append(ResourceGroup(covered, (fq,)))
        return self

    def weight(self, weight: float) -> Self:
        self._spec = replace(self._spec, fair_weight=weight)
        return self

    def obj(self) -> ClusterQueueSpec | CohortSpec:
        return replace(self._spec, resource_groups=tuple(self._groups))


class ClusterQueueBuilder(_QuotaHolder):
    """Builds a ``ClusterQueueSpec``."""

    def __init__(self, name: str):
        super().__init__(ClusterQueueSpec(name))

    def cohort(self, name: str | None) -> "ClusterQueueBuilder":
        self._spec = replace(self._spec, cohort=name)
        return self

    def strategy(self, strategy: QueueingStrategy | str) -> "ClusterQueueBuilder":
        self._spec = replace(self._spec, queueing_strategy=QueueingStrategy(strategy))
        return self

    def preemption(self, within: str = "Never", reclaim: str = "Never", borrow: str = "Never",
                   threshold: int | None = None) -> "ClusterQueueBuilder":
        """Sets withinClusterQueue, reclaimWithinCohort and borrowWithinCohort (+ threshold)."""
        self._spec = replace(self._spec, preemption=Preemption(
            PreemptionPolicy(within), PreemptionPolicy(reclaim),
            BorrowWithinCohort(PreemptionPolicy(borrow), threshold)))
        return self

    def fungibility(self, when_can_borrow: str = "MayStopSearch", when_can_preempt: str = "TryNextFlavor",
                    preference: str | None = None) -> "ClusterQueueBuilder":
        """Sets flavorFungibility (v1beta1 names Borrow/Preempt are accepted)."""
        self._spec = replace(self._spec, flavor_fungibility=FlavorFungibility(
            WhenCanBorrow(when_can_borrow), WhenCanPreempt(when_can_preempt),
            None if preference is None else FungibilityPreference(preference)))
        return self

    def admission_fair_sharing(self, enabled: bool = True) -> "ClusterQueueBuilder":
        """Sets admissionScope UsageBasedAdmissionFairSharing."""
        self._spec = replace(self._spec, admission_fair_sharing=enabled)
        return self

    def hold(self, hold: bool = True) -> "ClusterQueueBuilder":
        self._spec = replace(self._spec, hold=hold)
        return self


class CohortBuilder(_QuotaHolder):
    """Builds a ``CohortSpec``."""

    def __init__(self, name: str):
        super().__init__(CohortSpec(name))

    def parent(self, name: str | None) -> "CohortBuilder":
        self._spec = replace(self._spec, parent=name)
        return self


class WorkloadBuilder:
    """Builds a ``Workload`` with one pod set by default (``main``, 1 pod)."""

    def __init__(self, name: str):
        self._wl = Workload(name, "default", "default", (PodSet("main", 1, {}),))

    def priority(self, value: int) -> "WorkloadBuilder":
        self._wl = replace(self._wl, priority=value)
        return self

    def queue(self, name: str, namespace: str = "default") -> "WorkloadBuilder":
        self._wl = replace(self._wl, queue_name=name, namespace=namespace)
        return self

    def created(self, at: float) -> "WorkloadBuilder":
        self._wl = replace(self._wl, created_at=at)
        return self

    def request(self, **requests) -> "WorkloadBuilder":
        """Sets per-pod requests of the last pod set (``gpu=`` means nvidia.com/gpu)."""
        parsed = {_resource(k): parse_quantity(_resource(k), v) for k, v in requests.items()}
        last = self._wl.pod_sets[-1]
        merged = replace(last, requests={**last.requests, **parsed})
        self._wl = replace(self._wl, pod_sets=self._wl.pod_sets[:-1] + (merged,))
        return self

    def count(self, pods: int) -> "WorkloadBuilder":
        last = replace(self._wl.pod_sets[-1], count=pods)
        self._wl = replace(self._wl, pod_sets=self._wl.pod_sets[:-1] + (last,))
        return self

    def pod_set(self, name: str, count: int = 1, **requests) -> "WorkloadBuilder":
        """Appends another pod set (e.g. a driver and its executors)."""
        self._wl = replace(self._wl, pod_sets=self._wl.pod_sets + (PodSet(name, count, {}),))
        return self.request(**requests)

    def _last(self, **changes) -> "WorkloadBuilder":
        last = replace(self._wl.pod_sets[-1], **changes)
        self._wl = replace(self._wl, pod_sets=self._wl.pod_sets[:-1] + (last,))
        return self

    def min_count(self, pods: int) -> "WorkloadBuilder":
        """Allows partial admission of the last pod set down to ``pods``."""
        return self._last(min_count=pods)

    def node_selector(self, **labels: str) -> "WorkloadBuilder":
        return self._last(node_selector={**self._wl.pod_sets[-1].node_selector, **labels})

    def affinity(self, *terms: list[tuple[str, str, tuple[str, ...]]]) -> "WorkloadBuilder":
        """Sets required node affinity terms, each a list of (key, operator, values)."""
        return self._last(affinity=tuple(tuple(NodeSelectorRequirement(k, SelectorOperator(op), tuple(v))
                                               for k, op, v in term) for term in terms))

    def toleration(self, key: str, value: str = "", effect: str = "NoSchedule",
                   operator: str = "Equal") -> "WorkloadBuilder":
        tol = Toleration(key, operator, value, effect)
        return self._last(tolerations=self._wl.pod_sets[-1].tolerations + (tol,))

    def exclude(self, *flavors: str) -> "WorkloadBuilder":
        """Rules flavors out for the last pod set (e.g. the scheduler found them unfit)."""
        return self._last(excluded_flavors=self._wl.pod_sets[-1].excluded_flavors | frozenset(flavors))

    def obj(self) -> Workload:
        return self._wl


def make_workload(name: str) -> WorkloadBuilder:
    return WorkloadBuilder(name)


def make_cluster_queue(name: str) -> ClusterQueueBuilder:
    return ClusterQueueBuilder(name)


def make_cohort(name: str) -> CohortBuilder:
    return CohortBuilder(name)


def local_queues_for(*cluster_queues: str, namespace: str = "default") -> list[LocalQueue]:
    """Returns one local queue per cluster queue, named after it (handy in tests)."""
    return [LocalQueue(namespace, cq, cq) for cq in cluster_queues]
