"""The replay's headline figures are time-weighted over the whole run and agree with the jobs' GPU-seconds,
however unevenly the events fall; series.csv and the plots run from the first arrival to the makespan."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_builders import job, nodes, simulator, trace_of

from libs.replay.metrics import overall_stats, team_stats
from libs.replay.output import write_series


def job_gpu_seconds(result) -> float:
    """Returns the GPU-seconds the workload records account for: finished attempts plus work lost to evictions."""
    return sum(r.gpus * (r.finish - r.last_start) + r.lost_gpu_s for r in result.runs if r.finish is not None)


def test_a_busy_burst_then_a_long_idle_stretch_is_not_overweighted(tmp_path):
    """8 GPUs busy for 100 s, idle 900 s, busy 100 s: allocation is 1600 / (8 x 1100), not the mean of samples
    that crowd the busy seconds."""
    trace = trace_of(job("a").gpus(8).at(0).runs(100).obj(), job("b").gpus(8).at(1000).runs(100).obj())
    result = simulator(trace, nodes(1), policy="fifo", sample_every_s=10.0).run()
    overall = overall_stats(result)
    assert overall["makespan_s"] == 1100.0
    assert overall["avg_gpu_allocation"] == pytest.approx(1600 / (8 * 1100))
    assert overall["allocated_gpu_hours"] == pytest.approx(1600 / 3600)
    assert overall["avg_fragmentation"] == 0.0  # a node is wholly used or wholly free
    s = result.series
    assert s["t"][0] == 0.0 and s["t"][-1] == 1100.0 and s["dt"].sum() == pytest.approx(1100.0)
    assert np.average(s["allocated"], weights=s["dt"]) == pytest.approx(1600 / 1100)  # the series agrees
    team = team_stats(result)[0]
    assert team.avg_alloc_gpus == pytest.approx(1600 / 1100)
    rows = list(csv.DictReader(write_series(result, tmp_path / "series.csv").open()))
    assert float(rows[-1]["t_s"]) == 1100.0 and sum(float(r["dt_s"]) for r in rows) == pytest.approx(1100.0)


def test_fragmentation_is_free_gpu_seconds_on_partly_used_nodes():
    """One 8-GPU node: 4 GPUs used for 100 s (4 free, all stranded), then idle 100 s (8 free, none stranded)."""
    trace = trace_of(job("a").gpus(4).at(0).runs(100).obj(), job("b").gpus(1).at(199).runs(1).obj())
    overall = overall_stats(simulator(trace, nodes(1), policy="fifo").run())
    free = 4 * 100 + 8 * 99 + 7 * 1
    stranded = 4 * 100 + 7 * 1
    assert overall["avg_fragmentation"] == pytest.approx(stranded / free)
    assert overall["avg_stranded_share"] == pytest.approx(stranded / (8 * 200))


jobs = st.lists(st.tuples(st.sampled_from(["team-a", "team-b"]), st.integers(1, 4), st.integers(1, 2),  # fits a team quota
                          st.integers(0, 20_000), st.integers(1, 5_000)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=jobs, every=st.sampled_from([7.0, 60.0, 3600.0]), policy=st.sampled_from(["fifo", "fair-share"]))
def test_allocation_is_the_jobs_gpu_seconds_over_healthy_gpu_seconds(specs, every, policy):
    trace = trace_of(*(job(f"j{i}").team(team).gpus(gpus, pods).at(at).runs(run).obj()
                       for i, (team, gpus, pods, at, run) in enumerate(specs)))
    result = simulator(trace, nodes(3), policy=policy, sample_every_s=every).run()
    overall = overall_stats(result)
    assert overall["unfinished"] == 0
    assert result.gpu_seconds["allocated"] == pytest.approx(job_gpu_seconds(result))
    assert overall["avg_gpu_allocation"] == pytest.approx(job_gpu_seconds(result) / (24 * overall["makespan_s"]))
    assert 0.0 <= overall["avg_fragmentation"] <= 1.0 and 0.0 <= overall["fairness_gap"] <= 1.0
    s = result.series
    assert s["t"][-1] == result.end and s["dt"].sum() == pytest.approx(overall["makespan_s"])
    assert np.all(np.diff(s["t"][:-1]) == pytest.approx(every))  # evenly spaced, then the end
