"""The event clock of the cluster connectors: event time runs ``scale`` times faster than wall time from a stored
origin (the simulated fleet, and kwok fleets in the demo; 1 on a real cluster, where event time is wall time)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg


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


async def load_clock(pool: asyncpg.Pool, scale: float) -> SimClock:
    """Returns the clock stored in the service's ``clock`` table, starting one now on the service's first run."""
    async with pool.acquire() as conn:
        await conn.execute("insert into clock(id, wall_start, sim_start, scale) values (1, $1, $2, $3) "
                           "on conflict do nothing", time.time(), datetime.now(UTC), scale)
        row = await conn.fetchrow("select wall_start, sim_start, scale from clock where id = 1")
    return SimClock(row["wall_start"], row["sim_start"], row["scale"])
