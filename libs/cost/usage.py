"""Usage intervals: what ran where, when, with which resources — and the hours they touch.

A :class:`UsageInterval` is one report about one *allocation* (one pod set of a workload
bound to one node). The connector may report an allocation many times (heartbeats while it
runs, then its final end); each report carries a per-allocation ``seq``. The canonical view
of an allocation is its report with the highest ``(seq, event_id)`` — a maximum over a set,
so it does not depend on delivery order, and a duplicate delivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
MICROS_PER_HOUR = 3_600_000_000  # time is measured in integer microseconds


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of node resources: CPU in millicores, memory in bytes, whole GPUs."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    gpus: int = 0


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """The cost-relevant facts about a node: where it lives, what it is, what it holds."""

    node: str  # node id, unique across clusters
    cluster: str
    pool: str
    instance_type: str
    capacity: Resources  # allocatable resources that the price pays for
    gpu_model: str = ""  # e.g. "H100-80GB"; empty for CPU-only nodes


@dataclass(frozen=True, slots=True)
class Owner:
    """Who pays for a workload: the tenant hierarchy plus the queue it ran through."""

    org: str
    team: str
    queue: str


@dataclass(frozen=True, slots=True)
class UsageInterval:
    """One report of an allocation's use of a node over ``[start, end)``."""

    event_id: str  # unique id of the event that carried this report
    allocation_id: str  # one workload pod set on one node; the unit of supersession
    seq: int  # per-allocation report sequence; the highest wins
    workload: str
    owner: Owner
    node: str
    start: datetime  # timezone-aware
    end: datetime  # timezone-aware, >= start
    resources: Resources  # requested (allocated) resources on the node

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval timestamps must be timezone-aware")
        if self.end < self.start:
            raise ValueError("interval ends before it starts")

    @property
    def rank(self) -> tuple[int, str]:
        """Returns the supersession rank: a higher rank replaces a lower one."""
        return (self.seq, self.event_id)


def supersedes(new: UsageInterval, old: UsageInterval | None) -> bool:
    """Returns True if ``new`` should replace ``old`` as the canonical report."""
    return old is None or new.rank > old.rank


def canonical_intervals(reports: Iterable[UsageInterval]) -> dict[str, UsageInterval]:
    """Returns the winning report per allocation id, whatever the order or duplication."""
    best: dict[str, UsageInterval] = {}
    for r in reports:
        if supersedes(r, best.get(r.allocation_id)):
            best[r.allocation_id] = r
    return best


def hour_floor(at: datetime) -> datetime:
    """Returns the start of the UTC hour containing ``at``."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def micros_between(start: datetime, end: datetime) -> int:
    """Returns the exact number of microseconds from ``start`` to ``end``."""
    return (end - start) // timedelta(microseconds=1)


def hours_touched(start: datetime, end: datetime) -> Iterator[datetime]:
    """Yields the start of every UTC hour that ``[start, end)`` overlaps (none if empty)."""
    hour = hour_floor(start)
    while hour < end:
        yield hour
        hour += HOUR


def overlap_micros(interval: UsageInterval, hour: datetime) -> int:
    """Returns how many microseconds of ``interval`` fall inside the hour starting at ``hour``."""
    lo = max(interval.start, hour)
    hi = min(interval.end, hour + HOUR)
    return max(0, micros_between(lo, hi))


def split_at_hours(interval: UsageInterval) -> list[tuple[datetime, int]]:
    """Returns ``(hour_start, micros)`` for each hour the interval covers, in time order."""
    return [(h, overlap_micros(interval, h)) for h in hours_touched(interval.start, interval.end)]
