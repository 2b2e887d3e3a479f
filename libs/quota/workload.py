"""Workload records: what is asked for, and what was reserved for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from libs.quota.config import FlavorResource


@dataclass(frozen=True, slots=True)
class PodSet:
    """A group of identical pods; ``requests`` is per pod, in canonical units."""

    name: str
    count: int
    requests: Mapping[str, int]

    def total(self, resource: str) -> int:
        """Returns the pod set's total request for ``resource`` (``pods`` counts pods)."""
        if resource == "pods":
            return self.count
        return self.requests.get(resource, 0) * self.count


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
