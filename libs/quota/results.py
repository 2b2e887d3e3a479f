"""The plain data a cycle reads and returns: the snapshot and every kind of decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from libs.quota.candidates import Target
from libs.quota.outcome import Why
from libs.quota.tree import QuotaTree
from libs.quota.workload import Admission, Reservation, Workload


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The quota state a cycle reads: the tree with usage, reservations, evictions under way."""

    tree: QuotaTree
    admitted: Mapping[str, Mapping[str, Reservation]]  # cluster queue → workload id → reservation
    evicting: frozenset[str] = frozenset()  # victims already asked to leave
    lq_usage: Callable[[Workload], float] | None = None  # admission fair sharing: local queue usage


@dataclass(frozen=True, slots=True)
class Admitted:
    """A quota reservation to make: the workload, its queue and flavor assignment."""

    workload_id: str
    cluster_queue: str
    admission: Admission
    borrowing: bool


@dataclass(frozen=True, slots=True)
class Preempting:
    """A workload that will fit once ``targets`` are evicted."""

    workload_id: str
    cluster_queue: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class StillPending:
    """A head that was not admitted this cycle, and why."""

    workload_id: str
    cluster_queue: str
    why: Why
    step_aside: bool  # BestEffortFIFO: park it as inadmissible until quota frees


@dataclass(frozen=True, slots=True)
class Expired:
    """A reservation whose pods were not ready in time (waitForPodsReady): release and requeue."""

    workload_id: str
    cluster_queue: str
    why: Why


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Everything one cycle decided, as plain data."""

    admitted: tuple[Admitted, ...] = ()
    preempting: tuple[Preempting, ...] = ()
    pending: tuple[StillPending, ...] = ()
    expired: tuple[Expired, ...] = ()

    @property
    def decisions(self) -> int:
        """Returns how many heads got a decision (admitted, or waiting with a reason).

        A preemptor appears in ``preempting`` and, waiting for its victims, in ``pending``;
        it counts once.
        """
        return len(self.admitted) + len(self.pending)
