"""The event loop: hand-checkable completion times, preemption, failures, determinism."""

from __future__ import annotations

import pytest
from replay_builders import job, nodes, simulator, trace_of

from libs.replay.state import Phase


def finishes(result) -> dict[str, float | None]:
    return {r.job.id: r.finish for r in result.runs}


def test_fifo_hand_checked_completion_times() -> None:
    # one 8-GPU node: A holds it 0..100; B and C (4 GPUs each) both start at 100
    trace = trace_of(job("a").gpus(8).at(0).runs(100).obj(), job("b").gpus(4).at(10).runs(50).obj(),
                     job("c").team("team-b").gpus(4).at(10).runs(20).obj())
    result = simulator(trace, nodes(1), policy="fifo").run()
    assert finishes(result) == {"a": 100.0, "b": 150.0, "c": 120.0}
    assert {r.job.id: r.queue_delay for r in result.runs} == {"a": 0.0, "b": 90.0, "c": 90.0}


def test_strict_fifo_head_blocks_smaller_jobs_behind_it() -> None:
    trace = trace_of(job("a").gpus(4).at(0).runs(100).obj(), job("big").gpus(8).at(1).runs(10).obj(),
                     job("small").gpus(1).at(2).runs(10).obj())
    result = simulator(trace, nodes(1), policy="fifo").run()
    assert finishes(result) == {"a": 100.0, "big": 110.0, "small": 120.0}


def test_static_quota_keeps_a_team_within_its_nominal_share() -> None:
    trace = trace_of(job("a1").gpus(4).at(0).runs(100).obj(), job("a2").gpus(4).at(0).runs(100).obj(),
                     quotas={"team-a": 4, "team-b": 4})
    result = simulator(trace, nodes(1), policy="static").run()
    assert finishes(result) == {"a1": 100.0, "a2": 200.0}


def test_borrowing_lets_a_team_use_idle_quota() -> None:
    trace = trace_of(job("a1").gpus(4).at(0).runs(100).obj(), job("a2").gpus(4).at(0).runs(100).obj(),
                     quotas={"team-a": 4, "team-b": 4})
    result = simulator(trace, nodes(1), policy="borrowing").run()
    assert finishes(result) == {"a1": 100.0, "a2": 100.0}


def test_fair_sharing_reclaims_lent_quota_by_preemption_and_restarts_the_victim() -> None:
    # team-a borrows team-b's half; team-b's job at t=10 reclaims it; the victim restarts from zero
    trace = trace_of(job("a1").gpus(4).at(0).runs(100).obj(), job("a2").gpus(4).at(0).runs(100).obj(),
                     job("b1").team("team-b").gpus(4).at(10).runs(50).obj(), quotas={"team-a": 4, "team-b": 4})
    result = simulator(trace, nodes(1), policy="fair-share", backoff_base_s=5.0).run()
    runs = {r.job.id: r for r in result.runs}
    victim = runs["a2"] if runs["a2"].preemptions else runs["a1"]
    assert victim.preemptions == 1 and victim.lost_gpu_s == pytest.approx(40.0)
    assert runs["b1"].first_start == 10.0 and runs["b1"].finish == 60.0
    assert victim.finish == 160.0  # waits for b1's GPUs at 60, then runs 100 s again
    assert result.counters["preemptions"] == 1


def test_priority_preempts_lower_priority_work() -> None:
    trace = trace_of(job("low").team("team-b").gpus(8).at(0).runs(100).obj(),
                     job("high").gpus(8).at(10).runs(10).obj())
    result = simulator(trace, nodes(1), policy="priority", team_priority={"team-a": 5}).run()
    assert finishes(result)["high"] == 20.0
    assert finishes(result)["low"] == 120.0


def test_gang_waits_for_enough_whole_nodes() -> None:
    trace = trace_of(job("one").gpus(4).at(0).runs(50).obj(), job("gang").gpus(8, pods=2).at(1).runs(10).obj(),
                     quotas={"team-a": 16})
    result = simulator(trace, nodes(2), policy="fifo").run()
    assert finishes(result) == {"one": 50.0, "gang": 60.0}


def test_cycle_interval_delays_decisions_to_the_next_tick() -> None:
    trace = trace_of(job("a").gpus(1).at(5).runs(10).obj())
    result = simulator(trace, nodes(1), policy="fifo", cycle_interval_s=60).run()
    assert finishes(result) == {"a": 70.0}


def test_node_failure_evicts_and_the_workload_restarts_after_repair() -> None:
    trace = trace_of(*(job(f"j{i}").gpus(8).at(0).runs(50_000).obj() for i in range(3)))
    config = {"policy": "fifo", "failures": {"node_mtbf_hours": 5.0, "mttr_hours": 1.0, "seed": 3}}
    result = simulator(trace, nodes(2), **config).run()
    assert result.counters["node_failures"] > 0 and result.counters["failure_evictions"] > 0
    assert all(r.phase is Phase.DONE for r in result.runs)
    assert all(r.starts == r.failures + r.preemptions + 1 for r in result.runs)


def test_replays_are_deterministic_given_the_seed() -> None:
    trace = trace_of(*(job(f"j{i}").team(f"t{i % 3}").gpus(1 + i % 8).at(i * 7).runs(3000 + 100 * i).obj()
                       for i in range(40)))
    config = {"policy": "fair-share", "failures": {"node_mtbf_hours": 2.0, "mttr_hours": 0.5, "seed": 11}}
    one, two = simulator(trace, nodes(3), **config).run(), simulator(trace, nodes(3), **config).run()
    key = [(r.job.id, r.first_start, r.finish, r.preemptions, r.failures) for r in one.runs]
    assert key == [(r.job.id, r.first_start, r.finish, r.preemptions, r.failures) for r in two.runs]
    assert one.counters == two.counters


def test_a_per_pool_strategy_reaches_the_placement_core() -> None:
    from libs.placement import Strategy
    from libs.replay.adapters import placement_workload
    trace = trace_of(job("a").gpus(1).at(0).runs(10).obj())
    sim = simulator(trace, nodes(2), policy="fair-share", placement={"per_pool": {"p": "fgd"}})
    labels = dict(sim.quota.flavors["fleet"].node_labels)
    workload = placement_workload(trace.jobs[0], 0, {"fleet": labels})
    assert workload.pools == ("p",) and sim.policy.strategy_for(workload) is Strategy.FGD
    assert sim.run().runs[0].finish == 10.0


def test_node_level_preemption_runs_as_in_the_scheduler_service() -> None:
    """Quota admits both (each team has quota), but one node holds only one: the scheduler's cycle evicts the
    lower-priority gang, as the service would; off, or under min_runtime, the high one waits for capacity."""
    trace = trace_of(job("low").gpus(8).at(0).runs(100).obj(),
                     job("high").team("team-b").gpus(8).at(10).runs(50).obj(), quotas={"team-a": 8, "team-b": 8})
    fleet_of_one = dict(policy="static", team_priority={"team-b": 5})
    result = simulator(trace, nodes(1), **fleet_of_one).run()
    runs = {r.job.id: r for r in result.runs}
    assert runs["high"].first_start == 10.0 and runs["low"].preemptions == 1
    assert result.counters["node_preemptions"] == 1 and runs["low"].finish == 60.0 + 100.0  # from zero
    for off in (dict(placement={"node_preemption": False}), dict(min_runtime_s=600)):
        waited = {r.job.id: r for r in simulator(trace, nodes(1), **fleet_of_one, **off).run().runs}
        assert waited["high"].first_start == 100.0 and waited["low"].preemptions == 0
