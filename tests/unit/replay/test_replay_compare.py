"""What-if diffing: the same trace under two configurations."""

from __future__ import annotations

from replay_builders import job, nodes, simulator, trace_of

from libs.replay.compare import Diff, compare, diff_summaries


def _summary(queue: float, alloc: float, team_queue: float) -> dict:
    overall = {"avg_jct_s": 10.0, "p99_jct_s": 20.0, "avg_queue_s": queue, "p99_queue_s": queue, "avg_gpu_allocation": alloc,
               "avg_fragmentation": 0.1, "avg_stranded_share": 0.0, "fairness_gap": 0.0, "preemptions": 0, "lost_gpu_hours": 0.0,
               "makespan_s": 100.0, "unfinished": 0}
    team = {"name": "x", "avg_queue_s": team_queue, "p99_queue_s": team_queue, "avg_jct_s": 1.0,
            "received_share": 1.0, "fair_shortfall": 0.0, "preemptions": 0}
    return {"overall": overall, "teams": [team]}


def test_diff_verdicts_follow_the_direction_of_each_figure() -> None:
    diffs = {(d.scope, d.field): d for d in diff_summaries(_summary(100, 0.5, 10), _summary(50, 0.4, 10))}
    assert diffs[("overall", "avg_queue_s")].verdict == "better"
    assert diffs[("overall", "avg_queue_s")].relative == -0.5
    assert diffs[("overall", "avg_gpu_allocation")].verdict == "worse"
    assert diffs[("x", "avg_queue_s")].verdict == "same"


def test_relative_change_from_zero_is_undefined() -> None:
    assert Diff("overall", "preemptions", 0.0, 3.0, False).relative is None


def test_more_quota_for_a_team_shortens_its_queue() -> None:
    trace = trace_of(job("a1").gpus(4).at(0).runs(100).obj(), job("a2").gpus(4).at(0).runs(100).obj(),
                     quotas={"team-a": 4, "team-b": 4})
    base = simulator(trace, nodes(1), policy="static").run()
    more = simulator(trace, nodes(1), policy="static", quota_scale={"team-a": 2.0}).run()
    report = compare(base, more)
    by = {(d["scope"], d["field"]): d for d in report["diffs"]}
    assert by[("team-a", "avg_queue_s")]["a"] == 50.0 and by[("team-a", "avg_queue_s")]["b"] == 0.0
    assert by[("team-a", "avg_queue_s")]["verdict"] == "better"
