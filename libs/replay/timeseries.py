"""Time series of a replay: GPU allocation per team, demand, fair share and fragmentation.

The state between two events is constant, so the recorder integrates exactly between events: per-team
GPU-seconds, and the fleet's healthy, allocated, free and stranded GPU-seconds (the headline ratios are
ratios of these, time-weighted over the whole run). It also samples every point of a fixed grid
(``every`` seconds of simulated time, from the first event), a sample reading the state in force at its
time, and a last sample at the end of the run; each sample carries the time it stands for (``dt``).
"""

from __future__ import annotations

import numpy as np

from libs.placement import GPU_MILLI, Snapshot


def water_fill(capacity: float, demand: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the weighted max-min fair allocation of ``capacity`` among ``demand`` (demand-capped)."""
    fair = np.zeros_like(demand, dtype=float)
    active = demand > 0
    left = float(capacity)
    while active.any() and left > 1e-9:
        w = np.where(active, np.maximum(weights, 1e-12), 0.0)
        offer = left * w / w.sum()
        want = demand - fair
        sated = active & (want <= offer)
        if not sated.any():
            fair = fair + np.where(active, offer, 0.0)
            break
        fair[sated] = demand[sated]
        left = float(capacity) - fair.sum()
        active &= ~sated
    return fair


def fragmentation(snap: Snapshot) -> tuple[float, float, float]:
    """Return (free GPUs, free GPUs on partly used nodes, healthy GPUs) over schedulable nodes.

    A free GPU on a partly used node is stranded for a whole-node gang: that share of the free
    GPUs is the replay's fragmentation.
    """
    n = snap.size
    ok = snap.live[:n] & snap.healthy[:n] & ~snap.cordoned[:n]
    cnt = snap.gpu_cnt[:n][ok]
    free = snap.gpu_free[:n][ok] / GPU_MILLI
    partial = (free > 0) & (free < cnt)
    return float(free.sum()), float(free[partial].sum()), float(cnt.sum())


FLEET = ("capacity", "allocated", "free", "stranded")  # the fleet's GPU-second integrals, in this order


class Recorder:
    """Per-team allocation and demand, and the fleet's GPUs, integrated over time and sampled on a grid."""

    def __init__(self, teams: list[str], nominal: np.ndarray, every: float) -> None:
        self.teams = teams  # team names, index = team id
        self.nominal = nominal.astype(float)  # nominal GPUs per team: the fair-share weights
        self.every = every  # sampling interval (simulated seconds)
        self.alloc = np.zeros(len(teams))  # GPUs running per team now
        self.waiting = np.zeros(len(teams))  # GPUs queued (pending or reserved, not running) per team
        self.gpu_time = np.zeros(len(teams))  # integrated running GPU-seconds per team
        self.fleet_time = np.zeros(len(FLEET))  # integrated healthy, allocated, free, stranded GPU-seconds
        self.start: float | None = None  # the first event's time: integrals and samples begin here
        self.now = 0.0  # time the integrals are complete up to
        self.next_sample = 0.0  # next grid time to sample
        self.rows: list[tuple] = []  # (t, capacity, free, stranded, running, waiting) per sample
        self.team_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (alloc, demand, fair) per sample

    def begin(self, t: float) -> None:
        """Start the integrals and the grid at ``t`` (the first arrival: the makespan's start)."""
        self.start = self.now = self.next_sample = t

    def advance(self, t: float, snap: Snapshot) -> None:
        """Integrate over [now, t) with the state in force (the events at ``t`` are not applied yet) and take
        the grid samples that fall in it."""
        if self.start is None:
            self.begin(t)
            return
        if t <= self.now:
            return
        free, stranded, capacity = fragmentation(snap)
        self.gpu_time += self.alloc * (t - self.now)
        self.fleet_time += np.array([capacity, self.alloc.sum(), free, stranded]) * (t - self.now)
        if self.next_sample < t:
            row, team_row = self._sample(free, stranded, capacity)
            while self.next_sample < t:  # the state is the same at every grid point before t
                self.rows.append((self.next_sample, *row))
                self.team_rows.append(team_row)
                self.next_sample += self.every
        self.now = t

    def finish(self, snap: Snapshot) -> None:
        """Take the last sample: the state at the end of the run (after its last events)."""
        if self.start is None:
            return
        free, stranded, capacity = fragmentation(snap)
        row, team_row = self._sample(free, stranded, capacity)
        self.rows.append((self.now, *row))
        self.team_rows.append(team_row)

    def _sample(self, free: float, stranded: float, capacity: float) -> tuple[tuple, tuple]:
        demand = self.alloc + self.waiting
        fair = water_fill(capacity, demand, self.nominal)
        return ((capacity, free, stranded, float(self.alloc.sum()), float(self.waiting.sum())),
                (self.alloc.copy(), demand, fair))

    def totals(self) -> dict[str, float]:
        """Return the fleet's GPU-seconds from the first event to the last, by FLEET name."""
        return dict(zip(FLEET, map(float, self.fleet_time)))

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the samples as columns: t, dt (the time each stands for), capacity, allocated, fragmentation,
        and per-team matrices."""
        if not self.rows:
            empty = np.zeros((0, len(self.teams)))
            return {"t": np.zeros(0), "dt": np.zeros(0), "capacity": np.zeros(0), "allocated": np.zeros(0),
                    "free": np.zeros(0), "fragmentation": np.zeros(0), "stranded": np.zeros(0),
                    "waiting": np.zeros(0), "team_alloc": empty, "team_demand": empty, "team_fair": empty}
        rows = np.array(self.rows)
        free, stranded = rows[:, 2], rows[:, 3]
        return {"t": rows[:, 0], "dt": np.diff(rows[:, 0], append=rows[-1, 0]), "capacity": rows[:, 1],
                "allocated": rows[:, 4], "free": free,
                "fragmentation": np.divide(stranded, free, out=np.zeros_like(free), where=free > 0),
                "stranded": np.divide(stranded, rows[:, 1], out=np.zeros_like(free), where=rows[:, 1] > 0),
                "waiting": rows[:, 5],
                "team_alloc": np.array([r[0] for r in self.team_rows]),
                "team_demand": np.array([r[1] for r in self.team_rows]),
                "team_fair": np.array([r[2] for r in self.team_rows])}
