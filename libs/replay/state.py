"""Per-workload replay state and the event kinds of the discrete-event loop."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from .trace import TraceJob


class EventKind(IntEnum):
    """Event kinds; at one instant they are handled in this order (free capacity first)."""

    COMPLETE = 0
    REPAIR = 1
    FAIL = 2
    ARRIVE = 3
    WAKE = 4  # a backoff ended: the quota cycle should look again
    TICK = 5  # the next quota cycle, when cycles run on an interval


class Phase(str, Enum):
    """Where a workload stands in the replay."""

    PENDING = "pending"  # queued for quota (or in backoff)
    RESERVED = "reserved"  # quota reserved, waiting for nodes
    RUNNING = "running"
    DONE = "done"


@dataclass(slots=True)
class Run:
    """The replay's record of one workload; mutable, owned by the simulator."""

    job: TraceJob
    team: int  # index into the simulator's team list
    priority: int
    gpus: float  # GPUs the gang holds while running
    phase: Phase = Phase.PENDING
    first_reserved: float | None = None  # first quota reservation
    first_start: float | None = None  # first time every pod was placed
    last_start: float | None = None  # start of the current (or last) attempt
    finish: float | None = None
    preemptions: int = 0  # evictions asked by the quota core
    failures: int = 0  # evictions because a node failed
    starts: int = 0  # placements (attempts)
    lost_gpu_s: float = 0.0  # GPU-seconds of work lost to evictions (restart from zero)
    generation: int = 0  # bumped on eviction so stale completion events are ignored
    admission: object = None  # the quota core's Admission while reserved

    @property
    def queue_delay(self) -> float | None:
        """Return seconds from arrival to the first start."""
        return None if self.first_start is None else self.first_start - self.job.arrival

    @property
    def completion_time(self) -> float | None:
        """Return seconds from arrival to finish (JCT)."""
        return None if self.finish is None else self.finish - self.job.arrival
