"""The replay places with the scheduler's own policy file when asked (typical pods learned from the replayed
workloads, as the scheduler learns them), and can scale a fleet down to a trace's demand, node shapes in
proportion."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from replay_builders import job, nodes, simulator, trace_of

from libs.placement import NodeSpec, PlacementPolicy, Strategy, Topology
from libs.placement.policy_file import load_policy
from libs.replay import load_replay_config, prepare
from libs.replay.adapters import placement_policy, scaled_fleet
from libs.replay.config import ReplayConfig, TraceSource
from libs.replay.runner import without_unfit
from libs.replay.trace import repo_root

POLICY_YAML = repo_root() / "deploy" / "scheduler" / "policy.yaml"

POLICY = """
default: binpack
pools: {a100: fgd}
typical_pods:
  - {cpu_milli: 8000, gpu_count: 1, popularity: 1.0}
learn_typical_pods: true
typical_pods_min_pods: 40
fgd_packing: 7
"""


def node(i: int, gpus: int, pool: str) -> NodeSpec:
    return NodeSpec(f"n{i}", 8000 * max(gpus, 1), 65536, gpus, pool.upper(), "c", pool, topology=Topology(host=f"n{i}"))


shapes = st.lists(st.sampled_from([(8, "g2"), (2, "t4"), (4, "v100"), (1, "p100"), (0, "cpu")]), min_size=1,
                  max_size=200)


@settings(max_examples=200, deadline=None)
@given(shapes=shapes, scale=st.floats(0.001, 1.0))
def test_a_scaled_fleet_keeps_each_shape_in_proportion(shapes, scale):
    fleet = [node(i, gpus, pool) for i, (gpus, pool) in enumerate(shapes)]
    kept = scaled_fleet(fleet, scale)
    target = max(1, round(len(fleet) * scale))
    assert len(kept) == target
    positions = [fleet.index(n) for n in kept]
    assert positions == sorted(positions)  # a subset, in the fleet's order
    for gpus, pool in set(shapes):
        of_shape = [n for n in fleet if n.pool == pool]
        share = len(of_shape) * target / len(fleet)
        got = [n for n in kept if n.pool == pool]
        assert math.floor(share) <= len(got) <= math.ceil(share)  # largest remainder: floor or ceiling
        assert got == of_shape[: len(got)]  # the first of each shape


def test_the_openb_shapes_scale_to_a_fleet_the_trace_can_fill():
    """549 G2 (8 GPUs), 387 T4 (2), 107 P100 (2) and 39 G3 (8): at 0.007, 8 of the 1,082 nodes."""
    fleet = ([node(i, 8, "g2") for i in range(549)] + [node(1000 + i, 2, "t4") for i in range(387)]
             + [node(2000 + i, 2, "p100") for i in range(107)] + [node(3000 + i, 8, "g3") for i in range(39)])
    kept = scaled_fleet(fleet, 0.007)
    counts = {pool: sum(1 for n in kept if n.pool == pool) for pool in ("g2", "t4", "p100", "g3")}
    # shares: g2 4.06, t4 2.86, p100 0.79, g3 0.29 -> floors 4, 2, 0, 0; the 2 left go to t4 (.86) and p100 (.79)
    assert counts == {"g2": 4, "t4": 3, "p100": 1, "g3": 0}


@pytest.mark.parametrize("scale", [0, -0.5, 1.5])
def test_a_fleet_scale_outside_0_to_1_is_refused(scale):
    with pytest.raises(ValidationError, match="fleet_scale"):
        ReplayConfig(fleet_scale=scale)


def test_the_policy_file_is_read_as_the_scheduler_reads_it(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    trace = trace_of(job("a").obj())
    config = ReplayConfig(placement={"policy_file": str(path), "default": "fgd"})
    assert placement_policy(config, trace) == replace(load_policy(path), default=Strategy.FGD)
    kept = placement_policy(ReplayConfig(placement={"policy_file": str(path)}), trace)
    assert kept == load_policy(path) and kept.default is Strategy.BINPACK and kept.fgd_packing == 7


def test_a_missing_policy_file_is_an_error_naming_it(tmp_path):
    config = ReplayConfig(name="r", placement={"policy_file": str(tmp_path / "nope.yaml")})
    with pytest.raises(ValueError, match="nope.yaml: no such file"):
        placement_policy(config, trace_of(job("a").obj()))


def test_without_a_policy_file_fgd_takes_the_trace_mix_and_the_papers_integer_scores():
    trace = trace_of(*(job(f"j{i}").gpus(2).obj() for i in range(3)))
    policy = placement_policy(ReplayConfig(placement={"default": "fgd", "fgd_quantized": True}), trace)
    assert policy.fgd_quantized and not policy.fgd_stranding and not policy.learn_typical
    assert [(p.gpu_count, p.cpu_milli, p.popularity) for p in policy.typical_pods] == [(2, 2000, 1.0)]
    assert placement_policy(ReplayConfig(), trace).typical_pods == ()  # bin-pack needs no mix


def test_the_replay_learns_typical_pods_from_the_workloads_it_places(tmp_path):
    """The file's mix (one 1-GPU shape) is the prior; after 64 two-GPU workloads, past typical_pods_min_pods and a
    look every 32, FGD weighs nodes by the two-GPU shape, as the scheduler would have learned it."""
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    trace = trace_of(*(job(f"j{i:02}").gpus(2).at(i).runs(10).obj() for i in range(64)), quotas={"team-a": 16})
    sim = simulator(trace, nodes(2), policy="fifo", placement={"policy_file": str(path), "default": "fgd"})
    assert [p.gpu_count for p in sim.policy.typical_pods] == [1]
    result = sim.run()
    assert all(r.finish is not None for r in result.runs)
    assert sim.learner.mix.seen == 64
    assert [(p.gpu_count, p.cpu_milli, p.popularity) for p in sim.policy.typical_pods] == [(2, 2000, 1.0)]


def test_a_gang_no_node_can_hold_gives_its_quota_back_and_blocks_nobody():
    """A 16-GPU pod on 8-GPU nodes: the scheduler says never-fits and quota takes the reservation back, excluding
    the flavor for it, as the quota service does. Before, it kept its reservation, and with the fleet's whole quota
    held by such pods, nothing else was ever admitted. (Under StrictFIFO it would still block its queue as its
    inadmissible head, as in Kueue; BestEffortFIFO lets the others by.)"""
    trace = trace_of(job("big").gpus(16).at(0).runs(10).obj(), job("b").gpus(8).at(1).runs(10).obj(),
                     job("c").gpus(8).at(2).runs(10).obj(), quotas={"team-a": 16})
    sim = simulator(trace, nodes(2), policy="fifo", queueing="BestEffortFIFO")
    result = sim.run()
    runs = {r.job.id: r for r in result.runs}
    assert runs["b"].finish is not None and runs["c"].finish is not None
    assert runs["big"].finish is None and runs["big"].first_start is None
    assert result.counters["never_fits"] == 1  # handed back once; excluded, it is never reserved again
    assert "big" not in sim.engine.reservations and "big" not in sim.unplaced


def test_jobs_no_node_of_the_fleet_can_hold_are_left_out_and_counted():
    trace = trace_of(job("big").gpus(16).obj(), job("ok").gpus(8).obj(), job("ok2").gpus(1, pods=3).obj())
    kept = without_unfit(trace, nodes(2))
    assert [j.id for j in kept.jobs] == ["ok", "ok2"]
    assert trace.report.skipped["fits_no_node"] == 1 and trace.report.kept == 2
    assert "1 jobs left out" in trace.report.notes[-1]
    assert without_unfit(kept, nodes(2)) is kept  # nothing to leave out: the same trace


@pytest.mark.parametrize("policy", ["ours", "fgd", "best-fit"])
def test_the_shipped_openb_departure_configs_prepare_on_the_shipped_sample(policy):
    """The configs of benchmarks/replay_openb.py, on the openb sample that ships with the project (1,000 pods, the
    trace's 1,213 nodes): 8 nodes with 40 GPUs, and the policy each names."""
    config = load_replay_config(f"deploy/replay/openb-departures-{policy}.yaml")
    config = config.model_copy(update={"trace": TraceSource(format="alibaba",
                                                            path="deploy/traces/alibaba-gpu-2023-sample")})
    sim = prepare(config)
    assert sim.snap.size == 8 and int(sim.snap.gpu_cnt[:8].sum()) == 40
    assert sim.quota.cluster_queues["fleet"].resource_groups[0].flavors[0].resources[
        "batchyard.dev/gpu-milli"].nominal == 100 * 40 * 1000  # 100x the fleet: quota never binds
    expected = {"ours": replace(load_policy(POLICY_YAML), default=Strategy.FGD),
                "best-fit": PlacementPolicy(Strategy.BEST_FIT)}.get(policy)
    if expected is not None:
        assert sim.policy == expected
    else:
        assert sim.policy.default is Strategy.FGD and sim.policy.fgd_quantized and sim.policy.typical_pods
