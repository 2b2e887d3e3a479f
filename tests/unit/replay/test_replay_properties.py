"""Property: no replay ever over-allocates a node or runs a workload twice at once."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_builders import job, nodes, simulator, trace_of

from libs.replay.sim import Simulator
from libs.replay.state import Phase


def check_invariants(sim: Simulator) -> None:
    snap, n = sim.snap, sim.snap.size
    assert (snap.cpu_used[:n] <= snap.cpu_cap[:n]).all()
    assert (snap.mem_used[:n] <= snap.mem_cap[:n]).all()
    assert (snap.gpu_left[:n] >= 0).all() and (snap.gpu_left[:n] <= 1000).all()
    running = {wid for wid, run in sim.runs.items() if run.phase is Phase.RUNNING}
    assert set(snap.workload_pods) == running  # pods bound exactly for the running workloads
    for wid in running:
        gang = sum(ps.count for ps in sim.runs[wid].job.pod_sets)
        assert len(snap.workload_pods[wid]) == gang  # one copy of the gang, never two
    assert not any(snap.healthy[snap.index[name]] for name in sim.down)
    for name in sim.down:  # a failed node holds nothing
        assert not snap.pods_on[snap.index[name]]


class CheckedSimulator(Simulator):
    """Checks the invariants after every scheduling pass and every failure."""

    def _schedule(self, t: float) -> None:
        super()._schedule(t)
        check_invariants(self)

    def _fail(self, node: str, t: float) -> None:
        super()._fail(node, t)
        check_invariants(self)


jobs = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 500), st.integers(1, 400),
                          st.sampled_from([(1, 1), (2, 1), (4, 1), (8, 1), (8, 2), (3, 1)])), min_size=1, max_size=15)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=jobs, policy=st.sampled_from(["fifo", "priority", "static", "borrowing", "fair-share"]),
       node_count=st.integers(1, 3), seed=st.integers(0, 5), mtbf=st.sampled_from([None, 0.05, 0.2]),
       interval=st.sampled_from([0.0, 30.0]))
def test_no_over_allocation_and_no_double_run(jobs, policy, node_count, seed, mtbf, interval) -> None:
    trace = trace_of(*(job(f"j{i}").team(team).at(at).runs(dur).gpus(g, pods=p).obj()
                       for i, (team, at, dur, (g, p)) in enumerate(jobs)),
                     quotas={"a": 8, "b": 4, "c": 4})
    base = simulator(trace, nodes(node_count), policy=policy, team_priority={"a": 1}, cycle_interval_s=interval,
                     failures={"node_mtbf_hours": mtbf, "mttr_hours": 0.02, "seed": seed})
    sim = CheckedSimulator(base.config, trace, nodes(node_count), base.quota, dict(trace.team_gpus))
    result = sim.run()
    for run in result.runs:
        placed_now = 1 if run.phase in (Phase.RUNNING, Phase.DONE) else 0
        assert placed_now <= run.starts <= run.preemptions + run.failures + placed_now  # evictions may hit reserved gangs
        if run.phase is Phase.DONE:
            assert run.finish is not None and run.finish >= run.job.arrival + run.job.duration
    done = sum(r.phase is Phase.DONE for r in result.runs)
    fits = all(g * p <= 8 * node_count for _, _, _, (g, p) in jobs)
    if fits and policy in ("fifo", "priority", "borrowing", "fair-share"):
        assert done == len(jobs)  # everything that fits the fleet eventually runs to completion
    assert np.isfinite(result.gpu_time).all()
