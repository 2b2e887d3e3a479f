"""Property: under any failure storm the budgets hold, and every failed node is handled.

A simulated connector drives the planner every 5 minutes. It sends heartbeats from live
nodes, empties draining nodes (or lets the grace run out), and finishes repairs (some of
them fail, which escalates). Failures arrive as critical XIDs: a storm at t=0 and
stragglers later, some on nodes that were just repaired (flapping). After every cycle, no
pool and no rack has more nodes out than its budget. Once the storm is over and repairs
succeed, every failed node has been cordoned after its failure, and the fleet settles with
nothing out and nothing deferred.
"""

from collections import Counter
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from repair_builders import at, fleet

from libs.repair import (
    Action,
    FleetState,
    HeartbeatObserved,
    NodeState,
    OccupancyObserved,
    RepairConfig,
    RepairFinished,
    SafetyConfig,
    XidObserved,
    limit,
    plan,
)

STEP = 5  # minutes per cycle
CRITICAL_XIDS = [48, 74, 79, 95, 64]


@st.composite
def scenarios(draw):
    pools = {f"p{i}": draw(st.integers(3, 20)) for i in range(draw(st.integers(1, 2)))}
    racks = draw(st.integers(1, 4))
    safety = SafetyConfig(
        pool_max_out=draw(st.sampled_from([Fraction(1, 10), Fraction(1, 5), Fraction(1, 3), Fraction(1, 2)])),
        domain_max_out=draw(st.sampled_from([Fraction(1, 5), Fraction(1, 4), Fraction(1, 2), Fraction(1)])),
        max_starts_per_window=draw(st.integers(1, 6)),
        global_max_starts_per_window=draw(st.integers(1, 10)),
    )
    names = [f"{p}-{i:02d}" for p, n in pools.items() for i in range(n)]
    storm = draw(st.lists(st.sampled_from(names), unique=True, max_size=max(1, len(names) * 2 // 5)))
    later = draw(st.lists(st.tuples(st.sampled_from(names), st.integers(1, 40)), max_size=8))
    failures = [(n, 0, draw(st.sampled_from(CRITICAL_XIDS))) for n in storm]
    failures += [(n, c * STEP, draw(st.sampled_from(CRITICAL_XIDS))) for n, c in later]
    return pools, racks, safety, failures


def _connector(f: FleetState, minute: int, rnd, storm_over: bool) -> list:
    """Returns what the simulated cluster reports this cycle."""
    out = []
    for node, rec in sorted(f.nodes.items()):
        if rec.state in (NodeState.HEALTHY, NodeState.SUSPECT):
            out.append(HeartbeatObserved(node, at(minute)))
        elif rec.state is NodeState.DRAINING and rnd.random() < 0.5:
            out.append(OccupancyObserved(node, at(minute), 0))
        elif rec.state is NodeState.REPAIRING and rnd.random() < 0.4:
            ok = storm_over or rnd.random() < 0.8
            out.append(RepairFinished(node, at(minute), rec.action, ok))
    return out


def _assert_within_budget(f: FleetState, safety: SafetyConfig) -> None:
    live = [r for r in f.nodes.values() if r.state is not NodeState.RETIRED]
    for key, share in ((lambda r: r.pool, safety.pool_max_out), (lambda r: r.domain, safety.domain_max_out)):
        size = Counter(key(r) for r in live)
        out = Counter(key(r) for r in live if r.is_out)
        for group, n in out.items():
            assert n <= limit(size[group], share, safety.min_out), f"{group}: {n}/{size[group]} out"


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_budgets_hold_and_every_failed_node_is_handled(scenario, rnd):
    pools, racks, safety, failures = scenario
    config = RepairConfig(safety=safety)
    f = fleet(pools, racks)
    cordoned_at: dict[str, list] = {}
    out_during: set[tuple[str, int]] = set()  # (node, minute): out before or after that cycle
    storm_end = max((m for _, m, _ in failures), default=0)
    minute = 0
    for _ in range(400):
        xids = [XidObserved(n, at(m), code) for n, m, code in failures if m == minute]
        signals = _connector(f, minute, rnd, storm_over=minute > storm_end) + xids
        before = {n for n, r in f.nodes.items() if r.is_out}
        p = plan(f, signals, config, at(minute))
        f = p.fleet
        out_during |= {(n, minute) for n in before | {n for n, r in f.nodes.items() if r.is_out}}
        _assert_within_budget(f, safety)
        for t in p.transitions:
            if t.to_state is NodeState.CORDONED:
                cordoned_at.setdefault(t.node, []).append(t.at)
        settled = all(r.state in (NodeState.HEALTHY, NodeState.RETIRED) for r in f.nodes.values())
        if minute > storm_end and settled and not p.deferred:
            break
        minute += STEP
    else:
        raise AssertionError("fleet never settled")
    for node, m, _ in failures:  # handled: cordoned after it, or it hit a node already in repair
        handled = any(t >= at(m) for t in cordoned_at.get(node, [])) or (node, m) in out_during
        assert handled or f.nodes[node].state is NodeState.RETIRED, node


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 50), st.sampled_from([Fraction(1, 10), Fraction(1, 5), Fraction(1, 4)]))
def test_a_storm_of_a_fifth_of_a_pool_never_exceeds_the_pool_budget(size, share):
    config = RepairConfig(safety=SafetyConfig(pool_max_out=share, domain_max_out=Fraction(1),
                                              max_starts_per_window=size, global_max_starts_per_window=size))
    f = fleet({"gpu-a": size}, racks=1)
    storm = [XidObserved(f"gpu-a-{i:02d}", at(0), 79) for i in range(max(1, size // 5))]
    p = plan(f, storm, config, at(0))
    out = sum(r.is_out for r in p.fleet.nodes.values())
    assert out == min(len(storm), limit(size, share, 1))
    assert len(p.deferred) == len(storm) - out
    assert all(d.message.startswith("pool gpu-a at budget") for d in p.deferred)
    assert all(p.fleet.nodes[d.node].action is Action.REBOOT for d in p.deferred)
