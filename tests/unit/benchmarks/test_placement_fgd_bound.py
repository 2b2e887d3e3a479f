"""benchmarks.placement_fgd_protocol.bound: the allocation no strategy can beat, under the FGD paper's protocol."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.placement_fgd_protocol import bound, capacity, replay
from libs.placement import NodeSpec, PlacementPolicy, Strategy, TypicalPod


def pod(cpu: int, k: int, milli: int = 1000, mem: int = 1024) -> dict:
    return dict(cpu=cpu, mem=mem, k=k, milli=milli, models=())


def test_whole_node_pods_beyond_the_nodes_that_can_host_them_are_lost():
    nodes = [NodeSpec("a", 96_000, 65_536, 8, "V100"), NodeSpec("b", 96_000, 65_536, 8, "V100"),
             NodeSpec("c", 128_000, 65_536, 8, "V100")]
    cap = capacity(nodes)  # 24 GPUs
    # three 8-GPU pods that need 120 CPUs: only node c can take one of them, so 16 GPUs are lost at 100 %
    arrivals = [pod(120_000, 8), pod(120_200, 8), pod(120_000, 8)] + [pod(1_000, 1)] * 8
    at100, at130 = bound(nodes, arrivals, cap)
    assert at100 == 100.0 * 8_000 / cap
    assert at130 == 100.0 * (8_000 + 8_000) / cap  # the small pods arrived later: the rest of what arrived


def test_pods_that_can_share_nodes_lose_nothing():
    nodes = [NodeSpec("a", 96_000, 65_536, 8, "V100")]
    arrivals = [pod(10_000, 4), pod(10_000, 4), pod(10_000, 4)]  # two share the node; the bound cannot say more
    assert bound(nodes, arrivals, capacity(nodes)) == (100.0, 100.0)


def test_a_threshold_mixing_two_pods_bounds_finds_the_deficiency():
    nodes = [NodeSpec("a", 128_000, 800_000, 8, "V100"), NodeSpec("b", 96_000, 800_000, 8, "V100"),
             NodeSpec("c", 128_000, 300_000, 8, "V100")]
    # each pod alone has two hosts; both need the one node with 120 CPUs and 600,000 MiB
    arrivals = [pod(120_000, 8, mem=400_000), pod(64_000, 8, mem=600_000), pod(120_000, 8, mem=600_000)]
    at100, _ = bound(nodes, arrivals, capacity(nodes))
    assert at100 == 100.0 * 16_000 / capacity(nodes)


fleets = st.lists(st.tuples(st.sampled_from([32_000, 64_000, 96_000, 128_000]), st.sampled_from([1, 2, 4, 8])),
                  min_size=1, max_size=5)
pods = st.lists(st.tuples(st.integers(0, 130_000), st.sampled_from([0, 1, 2, 4, 8]),
                          st.sampled_from([250, 500, 1000])), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(fleets, pods)
def test_no_strategy_allocates_more_than_the_bound(fleet, asked):
    nodes = [NodeSpec(f"n{i}", cpu, 1 << 20, gpus, "V100") for i, (cpu, gpus) in enumerate(fleet)]
    arrivals = [pod(cpu, k, milli if k == 1 else 1000) for cpu, k, milli in asked]
    cap = capacity(nodes)
    mix = (TypicalPod(8_000, 1000, 1, popularity=0.5), TypicalPod(60_000, 1000, 8, popularity=0.5))
    limit = bound(nodes, arrivals, cap)
    for policy in (PlacementPolicy(Strategy.FGD, typical_pods=mix, fgd_quantized=True),
                   PlacementPolicy(Strategy.BEST_FIT), PlacementPolicy(Strategy.BINPACK)):
        got = replay(nodes, arrivals, policy, cap)
        assert got[0] <= limit[0] + 1e-9 and got[1] <= limit[1] + 1e-9, (policy.default, got, limit)
