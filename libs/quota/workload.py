"""Workload records: what is asked for, and what was reserved for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from libs.quota.config import FlavorResource
from libs.quota.eligibility import NodeSelectorRequirement, Toleration


@dataclass(frozen=True, slots=True)
class PodSet:
    """A group of identical pods; ``requests`` is per pod, in canonical units.

    The last four fields decide which flavors the pod set may use (``libs.quota.eligibility``).
    """

    name: str
    count: int
    requests: Mapping[str, int]
    min_count: int | None = None  # partial admission: fewest pods worth running (None: all)
    node_selector: Mapping[str, str] = field(default_factory=dict)  # label → value
    affinity: tuple[tuple[NodeSelectorRequirement, ...], ...] = ()  # required terms, ORed
    tolerations: tuple[Toleration, ...] = ()
    excluded_flavors: frozenset[str] = frozenset()  # never these (e.g. the scheduler found them unfit)

    def total(self, resource: str, count: int | None = None) -> int:
        """Returns the total request for ``resource`` at ``count`` pods (default all; ``pods`` counts pods)."""
        count = self.count if count is None else count
        if resource == "pods":
            return count
        return self.requests.get(resource, 0) * count


@dataclass(frozen=True, slots=True)
class Workload:
    """A unit of admission: all pod sets are admitted together or not at all."""

    id: str
    namespace: str
    queue_name: str  # the local queue it was submitted to
    pod_sets: tuple[PodSet, ...]
    priority: int = 0
    created_at: float = 0.0  # orders FIFO ties; older first

    def resources(self) -> frozenset[str]:
        """Returns every resource any pod set requests."""
        return frozenset(r for ps in self.pod_sets for r in ps.requests)


@dataclass(frozen=True, slots=True)
class PodSetAssignment:
    """The flavor chosen for each resource of one pod set, and what it costs."""

    pod_set: str
    flavors: Mapping[str, str]  # resource → flavor
    usage: Mapping[FlavorResource, int]
    count: int | None = None  # pods reserved; below the pod set's count under partial admission


@dataclass(frozen=True, slots=True)
class Admission:
    """A quota reservation's flavor assignment, handed to the scheduler."""

    cluster_queue: str
    pod_sets: tuple[PodSetAssignment, ...]
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # flavor → labels
    _total: Mapping[FlavorResource, int] = field(init=False, repr=False, compare=False)  # usage() cache

    def __post_init__(self) -> None:
        total: dict[FlavorResource, int] = {}
        for assignment in self.pod_sets:
            for fr, amount in assignment.usage.items():
                total[fr] = total.get(fr, 0) + amount
        object.__setattr__(self, "_total", MappingProxyType(total))

    def usage(self) -> Mapping[FlavorResource, int]:
        """Returns the total quota this admission holds per (flavor, resource) (read-only)."""
        return self._total


@dataclass(frozen=True, slots=True)
class Reservation:
    """Quota held by one workload: the admission plus the times that govern eviction."""

    workload: Workload
    admission: Admission
    reserved_at: float
    placed: bool = False  # set once the scheduler reports every pod placed (waitForPodsReady)
