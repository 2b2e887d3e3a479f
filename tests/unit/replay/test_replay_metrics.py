"""Metrics: water-filling fair share, fragmentation, per-team and overall summaries."""

from __future__ import annotations

import numpy as np
import pytest
from replay_builders import job, nodes, simulator, trace_of

from libs.placement import BoundPod, Snapshot
from libs.replay.metrics import overall_stats, summary, team_stats
from libs.replay.timeseries import fragmentation, water_fill


@pytest.mark.parametrize(("capacity", "demand", "weights", "fair"), [
    (10, [2, 20], [1, 1], [2, 8]),
    (10, [20, 20], [1, 1], [5, 5]),
    (12, [20, 20], [1, 2], [4, 8]),
    (10, [0, 3], [1, 1], [0, 3]),
    (10, [3, 3], [1, 1], [3, 3]),
], ids=["small-demand-capped", "equal-split", "weighted", "idle-team-gets-nothing", "capacity-left-over"])
def test_water_fill(capacity: float, demand: list, weights: list, fair: list) -> None:
    got = water_fill(capacity, np.array(demand, float), np.array(weights, float))
    assert got == pytest.approx(np.array(fair, float))


def test_fragmentation_counts_free_gpus_on_partly_used_nodes() -> None:
    snap = Snapshot.from_nodes(nodes(3))
    snap.bind(BoundPod("p", "w", "n0", 1000, 0, ((0, 1000), (1, 1000))))
    snap.set_healthy("n2", False)
    assert fragmentation(snap) == (14.0, 6.0, 16.0)


def test_summary_of_a_hand_checked_replay() -> None:
    trace = trace_of(job("a").gpus(8).at(0).runs(100).obj(), job("b").gpus(4).at(10).runs(50).obj(),
                     job("c").team("team-b").gpus(4).at(10).runs(20).obj())
    result = simulator(trace, nodes(1), policy="fifo", sample_every_s=10.0).run()
    teams = {t.name: t for t in team_stats(result)}
    assert teams["team-a"].avg_queue_s == 45.0 and teams["team-a"].avg_jct_s == 120.0
    assert teams["team-b"].avg_queue_s == 90.0 and teams["team-b"].avg_jct_s == 110.0
    overall = overall_stats(result)
    assert overall["makespan_s"] == 150.0 and overall["finished"] == 3 and overall["unfinished"] == 0
    # GPU-seconds: team-a 8*100 + 4*50, team-b 4*20
    assert result.gpu_time == pytest.approx(np.array([1000.0, 80.0]))
    assert teams["team-a"].received_share == pytest.approx(1000 / 1080)
    assert summary(result)["policy"] == "fifo"


def test_fairness_gap_is_zero_when_every_team_gets_its_demand() -> None:
    trace = trace_of(job("a").gpus(2).at(0).runs(100).obj(), job("b").team("team-b").gpus(2).at(0).runs(100).obj())
    overall = overall_stats(simulator(trace, nodes(1), policy="fair-share").run())
    assert overall["fairness_gap"] == 0.0 and overall["avg_queue_s"] == 0.0
