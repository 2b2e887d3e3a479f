"""The simulated clock: simulated time runs ``scale`` times faster than wall time from a stored origin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SimClock:
    wall_start: float  # unix seconds at the origin
    sim_start: datetime  # simulated time at the origin
    scale: float  # simulated seconds per wall second

    def sim_at(self, wall: float) -> datetime:
        """Returns the simulated time at unix wall time ``wall``."""
        return self.sim_start + timedelta(seconds=(wall - self.wall_start) * self.scale)

    def wall_after(self, wall: float, sim_seconds: float) -> float:
        """Returns the wall time at which ``sim_seconds`` of simulated time will have passed since ``wall``."""
        return wall + sim_seconds / self.scale
