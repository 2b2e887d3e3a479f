"""The planner: the repair cycle, drain grace, escalation, budgets, rate limits, ops overrides."""

import dataclasses
from datetime import timedelta
from fractions import Fraction

from repair_builders import at, busy, empty, fleet, heartbeat, repaired, xid

from libs.repair import (
    Action,
    NodeState,
    Overrides,
    ReasonCode,
    RepairConfig,
    SafetyConfig,
    plan,
)

CFG = RepairConfig()
S = NodeState


def run(f, signals, minutes, config=CFG):
    return plan(f, signals, config, at(minutes))


def moves(p):
    return [(t.node, t.from_state, t.to_state, t.reason) for t in p.transitions]


def state(p, node):
    return p.fleet.nodes[node].state


def test_critical_xid_cordons_and_starts_draining_in_one_cycle():
    p = run(fleet(), [xid("gpu-a-03", 79, 0)], 1)
    assert moves(p) == [("gpu-a-03", S.HEALTHY, S.CORDONED, ReasonCode.DIAGNOSED),
                        ("gpu-a-03", S.CORDONED, S.DRAINING, ReasonCode.DRAIN_STARTED)]
    assert p.transitions[0].action is Action.REBOOT
    assert any("fallen off the bus" in e for e in p.transitions[0].evidence)
    assert p.fleet.nodes["gpu-a-03"].drain_deadline == at(1) + CFG.safety.drain_grace


def test_warning_makes_a_node_suspect_and_it_recovers_when_evidence_ages_out():
    p = run(fleet(), [xid("gpu-a-01", 94, 0)], 1)
    assert moves(p) == [("gpu-a-01", S.HEALTHY, S.SUSPECT, ReasonCode.DIAGNOSED)]
    later = plan(p.fleet, [], CFG, at(0) + CFG.diagnosis.xid_window + timedelta(minutes=1))
    assert moves(later) == [("gpu-a-01", S.SUSPECT, S.HEALTHY, ReasonCode.RECOVERED)]


def test_application_xid_leaves_the_node_alone():
    p = run(fleet(), [xid("gpu-a-01", 13, 0), xid("gpu-a-01", 31, 0), xid("gpu-a-01", 43, 0)], 1)
    assert p.transitions == () and p.deferred == ()


def test_drain_waits_for_the_gang_grace_then_completes_when_empty():
    p = run(fleet(), [xid("gpu-a-03", 79, 0), busy("gpu-a-03", 0, grace_min=30)], 1)
    assert p.fleet.nodes["gpu-a-03"].drain_deadline == at(31)
    p = plan(p.fleet, [busy("gpu-a-03", 10, grace_min=30)], CFG, at(10))
    assert state(p, "gpu-a-03") is S.DRAINING
    p = plan(p.fleet, [empty("gpu-a-03", 12)], CFG, at(12))
    assert moves(p) == [("gpu-a-03", S.DRAINING, S.REPAIRING, ReasonCode.DRAIN_COMPLETE)]


def test_drain_completes_when_the_grace_period_passes():
    p = run(fleet(), [xid("gpu-a-03", 79, 0), busy("gpu-a-03", 0, grace_min=30)], 1)
    p = plan(p.fleet, [], CFG, at(31))
    assert moves(p) == [("gpu-a-03", S.DRAINING, S.REPAIRING, ReasonCode.DRAIN_GRACE_EXPIRED)]


def test_gang_grace_is_capped():
    p = run(fleet(), [xid("gpu-a-03", 79, 0), busy("gpu-a-03", 0, grace_min=24 * 60)], 1)
    assert p.fleet.nodes["gpu-a-03"].drain_deadline == at(1) + CFG.safety.max_drain_grace


def _to_repairing(node="gpu-a-03", code=79, f=None):
    p = run(f or fleet(), [xid(node, code, 0)], 1)
    return plan(p.fleet, [empty(node, 2)], CFG, at(2))


def test_successful_repair_returns_the_node_healthy_with_clean_health():
    p = _to_repairing()
    p = plan(p.fleet, [repaired("gpu-a-03", 20, Action.REBOOT), heartbeat("gpu-a-03", 20)], CFG, at(21))
    assert moves(p) == [("gpu-a-03", S.REPAIRING, S.HEALTHY, ReasonCode.REPAIR_SUCCEEDED)]
    p = plan(p.fleet, [heartbeat("gpu-a-03", 22)], CFG, at(23))
    assert p.transitions == ()


def test_failed_repairs_escalate_reboot_then_reimage_then_retire():
    p = _to_repairing()
    p = plan(p.fleet, [repaired("gpu-a-03", 20, Action.REBOOT, ok=False)], CFG, at(21))
    assert [(t.to_state, t.action) for t in p.transitions] == [(S.REPAIRING, Action.REIMAGE)]
    p = plan(p.fleet, [repaired("gpu-a-03", 50, Action.REIMAGE, ok=False)], CFG, at(51))
    assert moves(p) == [("gpu-a-03", S.REPAIRING, S.RETIRED, ReasonCode.REPAIR_FAILED)]


def test_a_result_for_an_older_action_does_not_finish_the_current_one():
    p = _to_repairing()
    p = plan(p.fleet, [repaired("gpu-a-03", 20, Action.REBOOT, ok=False)], CFG, at(21))
    p = plan(p.fleet, [repaired("gpu-a-03", 20, Action.REBOOT, ok=True)], CFG, at(22))  # stale duplicate
    assert state(p, "gpu-a-03") is S.REPAIRING and p.fleet.nodes["gpu-a-03"].action is Action.REIMAGE


def test_a_silent_repair_times_out_and_escalates():
    p = _to_repairing()
    p = plan(p.fleet, [], CFG, at(2) + CFG.safety.repair_timeout)
    assert [(t.reason, t.action) for t in p.transitions] == [(ReasonCode.REPAIR_TIMED_OUT, Action.REIMAGE)]


def test_a_node_that_fails_again_soon_after_a_repair_escalates():
    p = _to_repairing()
    p = plan(p.fleet, [repaired("gpu-a-03", 20, Action.REBOOT)], CFG, at(21))
    p = plan(p.fleet, [xid("gpu-a-03", 79, 60)], CFG, at(61))
    assert (p.transitions[0].reason, p.transitions[0].action) == (ReasonCode.FLAPPING, Action.REIMAGE)
    p = plan(p.fleet, [empty("gpu-a-03", 62)], CFG, at(62))
    p = plan(p.fleet, [repaired("gpu-a-03", 90, Action.REIMAGE)], CFG, at(91))
    p = plan(p.fleet, [xid("gpu-a-03", 48, 120)], CFG, at(121))
    assert p.transitions[0].action is Action.RETIRE
    p = plan(p.fleet, [empty("gpu-a-03", 122)], CFG, at(122))
    assert moves(p) == [("gpu-a-03", S.DRAINING, S.RETIRED, ReasonCode.DRAIN_COMPLETE)]


def test_a_failure_long_after_a_repair_starts_again_at_reboot():
    p = _to_repairing()
    p = plan(p.fleet, [repaired("gpu-a-03", 20, Action.REBOOT)], CFG, at(21))
    later = 21 + CFG.safety.flap_window.total_seconds() / 60 + 1
    p = plan(p.fleet, [xid("gpu-a-03", 79, later), heartbeat("gpu-a-03", later)], CFG, at(later))
    assert p.transitions[0].action is Action.REBOOT


def test_pool_budget_defers_with_the_numbers():
    signals = [xid(f"gpu-a-0{i}", 79, 0) for i in range(4)]
    p = run(fleet({"gpu-a": 10}), signals, 1)
    assert sum(t.to_state is S.CORDONED for t in p.transitions) == 2
    assert [d.message for d in p.deferred] == ["pool gpu-a at budget: 2/10 out, max 20%"] * 2
    assert {state(p, d.node) for d in p.deferred} == {S.SUSPECT}


def test_domain_budget_limits_a_rack():
    cfg = RepairConfig(safety=SafetyConfig(pool_max_out=Fraction(1), domain_max_out=Fraction(1, 5)))
    signals = [xid(n, 79, 0) for n in ("gpu-a-00", "gpu-a-02", "gpu-a-04", "gpu-a-01")]
    p = run(fleet({"gpu-a": 10}, racks=2), signals, 1, cfg)  # even nodes on rack-0, odd on rack-1
    cordoned = sorted(t.node for t in p.transitions if t.to_state is S.CORDONED)
    assert cordoned == ["gpu-a-00", "gpu-a-01"]
    assert p.deferred[0].reason is ReasonCode.DOMAIN_AT_BUDGET
    assert p.deferred[0].message == "domain rack-0 at budget: 1/5 out, max 20%"


def test_deferred_nodes_are_admitted_oldest_first_when_budget_frees():
    p = run(fleet({"gpu-a": 5}), [xid("gpu-a-04", 79, 0)], 1)  # budget: 1 node
    p = plan(p.fleet, [xid("gpu-a-02", 79, 2)], CFG, at(2))
    p = plan(p.fleet, [xid("gpu-a-00", 79, 3)], CFG, at(3))
    assert [d.node for d in p.deferred] == ["gpu-a-02", "gpu-a-00"]
    p = plan(p.fleet, [empty("gpu-a-04", 4)], CFG, at(4))
    p = plan(p.fleet, [repaired("gpu-a-04", 10, Action.REBOOT)], CFG, at(10))
    cordoned = [t.node for t in p.transitions if t.to_state is S.CORDONED]
    assert cordoned == ["gpu-a-02"]


def test_hardware_evidence_is_remembered_while_deferred():
    p = run(fleet({"gpu-a": 5}), [xid("gpu-a-01", 79, 0), xid("gpu-a-04", 79, 0)], 1)
    assert p.fleet.nodes["gpu-a-04"].action is Action.REBOOT  # suspect, remembering why
    p = plan(p.fleet, [empty("gpu-a-01", 2)], CFG, at(2))
    quiet = at(0) + CFG.diagnosis.xid_window + timedelta(hours=1)  # the XID itself has aged out
    p = plan(p.fleet, [repaired("gpu-a-01", 30, Action.REBOOT)], CFG, quiet)
    assert "gpu-a-04" in [t.node for t in p.transitions if t.to_state is S.CORDONED]


def test_rate_limit_caps_starts_per_window():
    cfg = RepairConfig(safety=SafetyConfig(pool_max_out=Fraction(1), domain_max_out=Fraction(1),
                                           max_starts_per_window=3))
    p = run(fleet({"gpu-a": 10}), [xid(f"gpu-a-0{i}", 79, 0) for i in range(5)], 1, cfg)
    assert sum(t.to_state is S.CORDONED for t in p.transitions) == 3
    assert p.deferred[0].message == "pool gpu-a rate limit: 3 repairs started in the last 10m (max 3)"
    p = plan(p.fleet, [], cfg, at(12))
    assert sum(t.to_state is S.CORDONED for t in p.transitions) == 2


def test_pause_globally_and_per_pool():
    sig = [xid("gpu-a-01", 79, 0), xid("gpu-b-01", 79, 0)]
    f = fleet({"gpu-a": 10, "gpu-b": 10})
    p = run(f, sig, 1, RepairConfig(overrides=Overrides(paused_pools=frozenset({"gpu-a"}))))
    assert [t.node for t in p.transitions if t.to_state is S.CORDONED] == ["gpu-b-01"]
    assert p.deferred[0].message == "repairs paused by ops in pool gpu-a"
    p = run(f, sig, 1, RepairConfig(overrides=Overrides(paused=True)))
    assert {d.reason for d in p.deferred} == {ReasonCode.PAUSED} and len(p.deferred) == 2


def test_forced_node_bypasses_pause_and_budget_and_excluded_is_never_touched():
    ov = Overrides(paused=True, forced={"gpu-a-05": at(0)}, excluded=frozenset({"gpu-a-06"}))
    p = run(fleet({"gpu-a": 10}), [xid("gpu-a-06", 79, 0)], 1, RepairConfig(overrides=ov))
    cordon = [t for t in p.transitions if t.to_state is S.CORDONED]
    assert [(t.node, t.reason, t.action) for t in cordon] == [("gpu-a-05", ReasonCode.OPS_FORCED, Action.REBOOT)]
    assert [(d.node, d.reason) for d in p.deferred] == [("gpu-a-06", ReasonCode.EXCLUDED)]


def test_plan_is_deterministic():
    sig = [xid(f"gpu-a-0{i}", 79, i) for i in range(6)]
    a, b = run(fleet(), sig, 10), run(fleet(), list(reversed(sig)), 10)
    assert a.transitions == b.transitions and a.deferred == b.deferred


def test_retired_nodes_leave_the_budget_base():
    f = fleet({"gpu-a": 5})
    nodes = dict(f.nodes)
    nodes["gpu-a-00"] = dataclasses.replace(nodes["gpu-a-00"], state=S.RETIRED)
    p = run(dataclasses.replace(f, nodes=nodes), [xid("gpu-a-00", 79, 0)], 1)
    assert p.transitions == () and "gpu-a-00" not in p.diagnoses


def test_forcing_is_one_shot():
    cfg = RepairConfig(overrides=Overrides(forced={"gpu-a-05": at(0)}))
    p = run(fleet(), [], 1, cfg)
    p = plan(p.fleet, [empty("gpu-a-05", 2)], cfg, at(2))
    p = plan(p.fleet, [repaired("gpu-a-05", 10, Action.REBOOT), heartbeat("gpu-a-05", 10)], cfg, at(10))
    assert state(p, "gpu-a-05") is S.HEALTHY
    p = plan(p.fleet, [heartbeat("gpu-a-05", 11)], cfg, at(11))
    assert p.transitions == ()  # the same override does not repair it again


def test_a_repair_result_for_a_node_not_in_repair_is_dropped():
    p = run(fleet(), [repaired("gpu-a-01", 0, Action.REBOOT)], 1)
    assert p.fleet.results == {}
