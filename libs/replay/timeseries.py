"""Time series of a replay: GPU allocation per team, demand, fair share and fragmentation.

The recorder integrates per-team GPU-seconds exactly between events and samples the fleet on a
fixed grid (``every`` seconds of simulated time); the state between two events is constant, so
a sample reads the state in force at its time.
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


class Recorder:
    """Per-team allocation and demand, integrated over time and sampled on a grid."""

    def __init__(self, teams: list[str], nominal: np.ndarray, every: float) -> None:
        self.teams = teams  # team names, index = team id
        self.nominal = nominal.astype(float)  # nominal GPUs per team: the fair-share weights
        self.every = every  # sampling interval (simulated seconds)
        self.alloc = np.zeros(len(teams))  # GPUs running per team now
        self.waiting = np.zeros(len(teams))  # GPUs queued (pending or reserved, not running) per team
        self.gpu_time = np.zeros(len(teams))  # integrated running GPU-seconds per team
        self.now = 0.0  # time the integrals are complete up to
        self.next_sample = 0.0  # next grid time to sample
        self.rows: list[tuple] = []  # (t, capacity, free, stranded, running, waiting) per sample
        self.team_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (alloc, demand, fair) per sample

    def advance(self, t: float, snap: Snapshot) -> None:
        """Integrate up to ``t`` with the current state and take the samples that fall before it."""
        if t <= self.now:
            return
        self.gpu_time += self.alloc * (t - self.now)
        self.now = t
        if self.next_sample <= t:
            self._sample(self.next_sample, snap)
            skipped = int((t - self.next_sample) // self.every)
            self.next_sample += (skipped + 1) * self.every  # state was constant over the skipped grid points

    def _sample(self, t: float, snap: Snapshot) -> None:
        free, stranded, capacity = fragmentation(snap)
        demand = self.alloc + self.waiting
        fair = water_fill(capacity, demand, self.nominal)
        self.rows.append((t, capacity, free, stranded, float(self.alloc.sum()), float(self.waiting.sum())))
        self.team_rows.append((self.alloc.copy(), demand, fair))

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the samples as columns: t, capacity, allocated, fragmentation, and per-team matrices."""
        if not self.rows:
            empty = np.zeros((0, len(self.teams)))
            return {"t": np.zeros(0), "capacity": np.zeros(0), "allocated": np.zeros(0), "free": np.zeros(0),
                    "fragmentation": np.zeros(0), "stranded": np.zeros(0), "waiting": np.zeros(0), "team_alloc": empty,
                    "team_demand": empty, "team_fair": empty}
        rows = np.array(self.rows)
        free, stranded = rows[:, 2], rows[:, 3]
        return {"t": rows[:, 0], "capacity": rows[:, 1], "allocated": rows[:, 4], "free": free,
                "fragmentation": np.divide(stranded, free, out=np.zeros_like(free), where=free > 0),
                "stranded": np.divide(stranded, rows[:, 1], out=np.zeros_like(free), where=rows[:, 1] > 0),
                "waiting": rows[:, 5],
                "team_alloc": np.array([r[0] for r in self.team_rows]),
                "team_demand": np.array([r[1] for r in self.team_rows]),
                "team_fair": np.array([r[2] for r in self.team_rows])}
