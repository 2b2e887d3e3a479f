"""The share formula and the exact split of one node-hour."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from cost_builders import at, catalog_for, cpu_node, gpu_node, report

from libs.cost import IDLE, CostConfig, PriceKey, Resources, ShareWeights, cost_node_hour, node_share
from libs.cost.usage import split_at_hours

GPU = gpu_node("g1")
CPU = cpu_node("c1")
DEFAULT = CostConfig()
GPU_ONLY = CostConfig(gpu_node=ShareWeights.gpu_only())


@pytest.mark.parametrize(
    ("requested", "node", "config", "share"),
    [
        pytest.param(Resources(24_000, 256 * 1024**3, 2), GPU, DEFAULT, Fraction(1, 4),
                     id="gpu-node-proportional-request"),
        pytest.param(Resources(gpus=2), GPU, DEFAULT, Fraction(9, 40), id="gpu-node-gpus-only"),
        pytest.param(Resources(gpus=2), GPU, GPU_ONLY, Fraction(1, 4), id="gpu-only-weights"),
        pytest.param(Resources(cpu_millis=48_000), GPU, DEFAULT, Fraction(1, 40),
                     id="cpu-pod-on-gpu-node-pays-cpu-weight"),
        pytest.param(Resources(8_000, 32 * 1024**3), CPU, DEFAULT, Fraction(1, 4),
                     id="cpu-node-proportional"),
        pytest.param(Resources(cpu_millis=16_000), CPU, DEFAULT, Fraction(1, 4),
                     id="cpu-node-cpu-only-request"),
        pytest.param(Resources(gpus=1), CPU, DEFAULT, Fraction(0), id="gpus-on-cpu-node-cost-nothing"),
    ],
)
def test_node_share(requested, node, config, share):
    assert node_share(requested, node, config) == share


def test_interval_is_split_at_hour_boundaries():
    iv = report("w").between(at(0, 30), at(2, 15)).build()
    assert [(h, us // 60_000_000) for h, us in split_at_hours(iv)] == [
        (at(0), 30), (at(1), 60), (at(2), 15)]


def _split(node, *reports, config=DEFAULT, dollars="3.60", hour=at(0)):
    catalog = catalog_for(node, dollars=dollars)
    price = catalog.price_at(PriceKey(node.cluster, node.pool, node.instance_type), hour)
    return cost_node_hour(node, hour, price, [r.build() for r in reports], config).amounts


def test_quarter_node_for_the_whole_hour_pays_a_quarter():
    amounts = _split(GPU, report("w1").gpus(2).cpu(24).mem_gib(256))
    assert amounts == {"w1": 900_000, IDLE: 2_700_000}


def test_half_hour_pays_half_and_idle_takes_the_rest():
    amounts = _split(GPU, report("w1").gpus(8).between(at(0, 15), at(0, 45)), config=GPU_ONLY)
    assert amounts == {"w1": 1_800_000, IDLE: 1_800_000}


def test_two_intervals_of_one_workload_in_an_hour_are_one_party():
    a = report("w1").gpus(4).between(at(0), at(0, 30))
    b = report("w1").gpus(4).between(at(0, 30), at(1)).allocation("w1-restarted")
    amounts = _split(GPU, a, b, config=GPU_ONLY)
    assert amounts == {"w1": 1_800_000, IDLE: 1_800_000}


def test_overcommitted_node_scales_workloads_to_the_price_and_idle_is_zero():
    reports = [report(w).gpus(4) for w in ("a", "b", "c")]
    amounts = _split(GPU, *reports, config=GPU_ONLY, dollars="1.000000")
    assert amounts == {"a": 333_334, "b": 333_333, "c": 333_333, IDLE: 0}


def test_rounding_always_sums_to_the_price_to_the_micro():
    node = gpu_node("g7", gpus=7)
    reports = [report(f"w{i}").gpus(1).between(at(0, i), at(1)) for i in range(6)]
    amounts = _split(node, *reports, config=GPU_ONLY, dollars="98.320001")
    assert sum(amounts.values()) == 98_320_001


def test_intervals_on_other_nodes_and_hours_are_ignored():
    amounts = _split(GPU, report("x").on("g2").gpus(8), report("y").gpus(8).between(at(1), at(2)))
    assert amounts == {IDLE: 3_600_000}


def test_idle_is_a_reserved_party():
    with pytest.raises(ValueError, match="reserved"):
        _split(GPU, report(IDLE).gpus(1))


def test_worked_example_from_docs():
    train = report("train").gpus(2).between(at(10, 15), at(11, 30))
    infer = report("infer").gpus(1).cpu(4).between(at(10), at(12))
    assert _split(GPU, train, infer, hour=at(10)) == {"train": 607_500, "infer": 412_500, IDLE: 2_580_000}
    assert _split(GPU, train, infer, hour=at(11)) == {"train": 405_000, "infer": 412_500, IDLE: 2_782_500}


def _reference_share(requested: Resources, node, weights: ShareWeights) -> Fraction:
    """The formula from docs/cost.md, written the slow, obvious way."""
    cap = node.capacity
    terms = [(weights.gpu, requested.gpus, cap.gpus), (weights.cpu, requested.cpu_millis, cap.cpu_millis),
             (weights.memory, requested.memory_bytes, cap.memory_bytes)]
    present = [(w, u, c) for w, u, c in terms if c > 0 and w > 0]
    total = sum((w for w, _, _ in present), Fraction(0))
    return sum((w * Fraction(u, c) for w, u, c in present), Fraction(0)) / total if total else Fraction(0)


@given(
    st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)).filter(any),
    st.builds(Resources, st.integers(0, 10**6), st.integers(0, 10**13), st.integers(0, 16)),
    st.builds(Resources, st.integers(0, 10**6), st.integers(0, 10**13), st.integers(0, 16)),
)
def test_integer_share_basis_equals_the_documented_formula(w, capacity, requested):
    weights = ShareWeights(*(Fraction(x, sum(w)) for x in w))
    node = gpu_node("gx")
    node = type(node)(node.node, node.cluster, node.pool, node.instance_type, capacity)
    config = CostConfig(gpu_node=weights, cpu_node=weights)
    assert node_share(requested, node, config) == _reference_share(requested, node, weights)
