"""Writes a replay's outputs: per-workload CSV, time-series CSV, summary JSON (Parquet is not available)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .metrics import summary
from .sim import ReplayResult

WORKLOAD_COLUMNS = ("workload_id", "team", "gpus", "priority", "arrival_s", "duration_s", "first_reserved_s",
                    "first_start_s", "finish_s", "queue_delay_s", "completion_time_s", "starts", "preemptions",
                    "failure_evictions", "lost_gpu_s", "phase")


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def write_workloads(result: ReplayResult, path: Path) -> Path:
    """Write one row per workload and return the path."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(WORKLOAD_COLUMNS)
        for r in result.runs:
            out.writerow([_fmt(v) for v in (
                r.job.id, result.teams[r.team], r.gpus, r.priority, r.job.arrival, r.job.duration,
                r.first_reserved, r.first_start, r.finish, r.queue_delay, r.completion_time, r.starts,
                r.preemptions, r.failures, r.lost_gpu_s, r.phase.value)])
    return path


def write_series(result: ReplayResult, path: Path) -> Path:
    """Write the sampled time series (fleet columns, then allocated GPUs per team) and return the path.

    One row per grid point from the first arrival, and a last row at the end of the run; ``dt_s`` is the
    time a row stands for (its state holds until the next row's time).
    """
    s = result.series
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["t_s", "dt_s", "capacity_gpus", "allocated_gpus", "free_gpus", "fragmentation", "stranded_share",
                      "waiting_gpus"] + [f"alloc:{t}" for t in result.teams] + [f"fair:{t}" for t in result.teams])
        for i in range(len(s["t"])):
            row = [s["t"][i], s["dt"][i], s["capacity"][i], s["allocated"][i], s["free"][i], s["fragmentation"][i],
                   s["stranded"][i], s["waiting"][i], *s["team_alloc"][i], *s["team_fair"][i]]
            times, figures = map(float, row[:2]), map(float, row[2:])
            out.writerow([f"{v:.10g}" for v in times] + [f"{v:.4g}" for v in figures])  # seconds stay exact
    return path


def write_all(result: ReplayResult, out_dir: Path, *, plots: bool = True) -> dict[str, Path]:
    """Write workloads.csv, series.csv, summary.json (and PNG plots); return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"workloads": write_workloads(result, out_dir / "workloads.csv"),
               "series": write_series(result, out_dir / "series.csv")}
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary(result), indent=2) + "\n")
    written["summary"] = path
    if plots:
        from .plots import plot_result
        written.update(plot_result(result, out_dir))
    return written
