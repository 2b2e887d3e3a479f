"""Summaries of a replay, per team and overall: completion time, queueing delay, allocation,
fragmentation, fairness (share received vs fair share), preemptions and makespan.

Every figure over time is time-weighted over the whole run (first arrival to last event). The fleet's
are exact ratios of GPU-seconds: allocation is allocated / healthy GPU-seconds (so it equals the jobs'
GPU-seconds over healthy GPU-seconds); fragmentation is the free GPU-seconds that sat on partly used
nodes as a share of all free GPU-seconds (noisy when few GPUs are free); the stranded share is the same
GPU-seconds as a share of healthy ones (stable). Per-team figures weigh each grid sample by its time.

Fair share is demand-aware: at every sample, the healthy GPUs are water-filled among teams with
work (running + queued), weighted by nominal quota. A team's *shortfall* is the fraction of its
fair share it did not receive; the *fairness gap* is that fraction over all teams.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .sim import ReplayResult


@dataclass(frozen=True)
class Stats:
    """Summary of one group of workloads (a team, or everything)."""

    name: str
    jobs: int
    finished: int
    avg_jct_s: float
    p99_jct_s: float
    avg_queue_s: float
    p50_queue_s: float
    p99_queue_s: float
    preemptions: int
    failure_evictions: int
    lost_gpu_hours: float
    nominal_gpus: float
    entitled_share: float  # nominal / total nominal
    received_share: float  # GPU-time / total GPU-time
    avg_alloc_gpus: float  # time-average over samples
    avg_fair_gpus: float  # time-average demand-aware fair share
    fair_shortfall: float  # ∫ max(0, fair - alloc) dt / ∫ fair dt, over samples

    def as_dict(self) -> dict:
        """Return the fields as a plain dict (JSON-ready)."""
        return asdict(self)


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _over_time(values: np.ndarray, dt: np.ndarray) -> float:
    """Return the time-weighted mean of samples, each standing for ``dt`` seconds."""
    return float((values * dt).sum() / dt.sum()) if dt.sum() > 0 else 0.0


def _ratio(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else 0.0


def _shortfall(fair: np.ndarray, alloc: np.ndarray, dt: np.ndarray) -> float:
    """Return ∫ max(0, fair - alloc) dt / ∫ fair dt (columns are teams when 2-D)."""
    weights = dt.reshape(-1, *([1] * (fair.ndim - 1)))
    return _ratio(float((np.maximum(fair - alloc, 0) * weights).sum()), float((fair * weights).sum()))


def _stats(name: str, runs: list, nominal: float, total_nominal: float, gpu_time: float, total_gpu_time: float,
           alloc: np.ndarray, fair: np.ndarray, dt: np.ndarray) -> Stats:
    jct = np.array([r.completion_time for r in runs if r.finish is not None])
    queue = np.array([r.queue_delay for r in runs if r.first_start is not None])
    return Stats(name, len(runs), int(jct.size), _mean(jct), _pct(jct, 99), _mean(queue), _pct(queue, 50),
                 _pct(queue, 99), sum(r.preemptions for r in runs), sum(r.failures for r in runs),
                 sum(r.lost_gpu_s for r in runs) / 3600, float(nominal), _ratio(nominal, total_nominal),
                 _ratio(gpu_time, total_gpu_time), _over_time(alloc, dt), _over_time(fair, dt),
                 _shortfall(fair, alloc, dt))


def team_stats(result: ReplayResult) -> list[Stats]:
    """Return one Stats per team, in team order."""
    by_team: list[list] = [[] for _ in result.teams]
    for run in result.runs:
        by_team[run.team].append(run)
    s = result.series
    total_nominal, total_time = float(result.nominal.sum()), float(result.gpu_time.sum())
    return [_stats(team, by_team[i], result.nominal[i], total_nominal, result.gpu_time[i], total_time,
                   s["team_alloc"][:, i] if s["team_alloc"].size else np.zeros(0),
                   s["team_fair"][:, i] if s["team_fair"].size else np.zeros(0), s["dt"])
            for i, team in enumerate(result.teams)]


def overall_stats(result: ReplayResult) -> dict:
    """Return fleet-wide figures: the all-teams Stats plus allocation, fragmentation, fairness, makespan."""
    s, gs = result.series, result.gpu_seconds
    alloc, fair = s["team_alloc"], s["team_fair"]
    total = _stats("all", result.runs, result.nominal.sum(), result.nominal.sum(), result.gpu_time.sum(),
                   result.gpu_time.sum(), alloc.sum(axis=1) if alloc.size else np.zeros(0),
                   fair.sum(axis=1) if fair.size else np.zeros(0), s["dt"])
    finishes = [r.finish for r in result.runs if r.finish is not None]
    arrivals = [r.job.arrival for r in result.runs]
    return {**total.as_dict(),
            "makespan_s": (max(finishes) - min(arrivals)) if finishes else 0.0,
            "unfinished": len(result.runs) - len(finishes),
            "avg_gpu_allocation": _ratio(gs.get("allocated", 0.0), gs.get("capacity", 0.0)),
            "avg_fragmentation": _ratio(gs.get("stranded", 0.0), gs.get("free", 0.0)),
            "avg_stranded_share": _ratio(gs.get("stranded", 0.0), gs.get("capacity", 0.0)),
            "fairness_gap": _shortfall(fair, alloc, s["dt"]) if fair.size else 0.0,
            "allocated_gpu_hours": gs.get("allocated", 0.0) / 3600,
            "healthy_gpu_hours": gs.get("capacity", 0.0) / 3600,
            "counters": dict(result.counters)}


def summary(result: ReplayResult) -> dict:
    """Return the whole summary (JSON-ready): config name, trace, overall and per-team figures."""
    return {"name": result.config.name, "trace": result.trace_name, "policy": result.config.policy,
            "overall": overall_stats(result), "teams": [t.as_dict() for t in team_stats(result)]}
