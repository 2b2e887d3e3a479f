"""Diagnosis: XID meanings, conditions, heartbeats, ECC, disk; and the signal fold."""

from datetime import timedelta

import pytest
from repair_builders import at, condition, heartbeat, not_ready, xid

from libs.repair import (
    Action,
    ConditionType,
    DiagnosisConfig,
    DiskObserved,
    EccObserved,
    NodeHealth,
    ReasonCode,
    Severity,
    diagnose,
    observe,
    reset_after_repair,
)

CFG = DiagnosisConfig()
N = "n1"


def health(*signals) -> NodeHealth:
    h = NodeHealth(N)
    for s in signals:
        h = observe(h, s)
    return h


def verdict(*signals, now=at(10)):
    d = diagnose(health(*signals), CFG, now)
    return d.severity, d.action


@pytest.mark.parametrize(
    ("code", "severity", "action"),
    [
        pytest.param(13, Severity.INFO, Action.NONE, id="13-graphics-exception-app"),
        pytest.param(31, Severity.INFO, Action.NONE, id="31-page-fault-app"),
        pytest.param(43, Severity.INFO, Action.NONE, id="43-stopped-processing-app"),
        pytest.param(48, Severity.CRITICAL, Action.REBOOT, id="48-double-bit-ecc"),
        pytest.param(63, Severity.WARNING, Action.OBSERVE, id="63-row-remap-recorded"),
        pytest.param(64, Severity.CRITICAL, Action.REPLACE, id="64-row-remap-failed"),
        pytest.param(74, Severity.CRITICAL, Action.REBOOT, id="74-nvlink"),
        pytest.param(79, Severity.CRITICAL, Action.REBOOT, id="79-fallen-off-bus"),
        pytest.param(94, Severity.WARNING, Action.OBSERVE, id="94-contained-ecc"),
        pytest.param(95, Severity.CRITICAL, Action.REBOOT, id="95-uncontained-ecc"),
        pytest.param(9999, Severity.WARNING, Action.OBSERVE, id="unknown-xid"),
    ],
)
def test_xid_codes_map_to_nvidia_meaning(code, severity, action):
    assert verdict(xid(N, code, 5)) == (severity, action)


def test_application_xid_is_recorded_as_the_workloads_fault():
    d = diagnose(health(xid(N, 31, 5, gpu=2)), CFG, at(10))
    assert d.findings[0].reason is ReasonCode.GPU_XID_APPLICATION
    assert "XID 31 on GPU 2" in d.findings[0].evidence


def test_hardware_xid_is_sticky_evidence():
    d = diagnose(health(xid(N, 79, 5)), CFG, at(10))
    assert d.sticky_action is Action.REBOOT
    assert "fallen off the bus" in d.summary


def test_xid_older_than_the_window_is_forgotten():
    assert verdict(xid(N, 79, 0), now=at(0) + CFG.xid_window + timedelta(seconds=1)) == (Severity.OK, Action.NONE)


@pytest.mark.parametrize(
    ("signal", "now", "expected"),
    [
        pytest.param(not_ready(N, 0, 1), 4, (Severity.WARNING, Action.OBSERVE), id="not-ready-within-grace"),
        pytest.param(not_ready(N, 0, 1), 6, (Severity.CRITICAL, Action.REBOOT), id="not-ready-past-grace"),
        pytest.param(condition(N, ConditionType.READY, True, 0, 1), 60, (Severity.OK, Action.NONE), id="ready"),
        pytest.param(condition(N, ConditionType.NETWORK_UNAVAILABLE, True, 0, 1), 1,
                     (Severity.CRITICAL, Action.REBOOT), id="network-unavailable"),
        pytest.param(condition(N, ConditionType.DISK_PRESSURE, True, 0, 1), 5,
                     (Severity.WARNING, Action.OBSERVE), id="disk-pressure-fresh"),
        pytest.param(condition(N, ConditionType.DISK_PRESSURE, True, 0, 1), 20,
                     (Severity.CRITICAL, Action.REIMAGE), id="disk-pressure-persistent"),
        pytest.param(condition(N, ConditionType.MEMORY_PRESSURE, True, 0, 1), 20,
                     (Severity.CRITICAL, Action.REBOOT), id="memory-pressure-persistent"),
        pytest.param(heartbeat(N, 0), 2, (Severity.OK, Action.NONE), id="heartbeat-recent"),
        pytest.param(heartbeat(N, 0), 5, (Severity.CRITICAL, Action.REBOOT), id="heartbeat-lost"),
        pytest.param(DiskObserved(N, at(0), 90), 1, (Severity.WARNING, Action.OBSERVE), id="disk-90"),
        pytest.param(DiskObserved(N, at(0), 97), 1, (Severity.CRITICAL, Action.REIMAGE), id="disk-97"),
        pytest.param(EccObserved(N, at(0), 1, uncorrectable=2), 1, (Severity.CRITICAL, Action.REBOOT),
                     id="ecc-uncorrectable"),
        pytest.param(EccObserved(N, at(0), 1, remap_failed=True), 1, (Severity.CRITICAL, Action.REPLACE),
                     id="ecc-remap-failed"),
        pytest.param(EccObserved(N, at(0), 1, remap_pending=True), 1, (Severity.WARNING, Action.OBSERVE),
                     id="ecc-remap-pending"),
        pytest.param(EccObserved(N, at(0), 1, correctable=5000), 1, (Severity.WARNING, Action.OBSERVE),
                     id="ecc-correctable-over-threshold"),
        pytest.param(EccObserved(N, at(0), 1, correctable=10), 1, (Severity.OK, Action.NONE),
                     id="ecc-correctable-under-threshold"),
    ],
)
def test_signal_rules(signal, now, expected):
    assert verdict(signal, now=at(now)) == expected


def test_heartbeat_evidence_names_the_silence_and_the_timeout():
    d = diagnose(health(heartbeat(N, 0)), CFG, at(7))
    assert d.findings[0].evidence == "no heartbeat for 7m (timeout 3m)"


def test_worst_finding_wins_and_all_evidence_is_kept():
    d = diagnose(health(xid(N, 13, 1), xid(N, 94, 2), xid(N, 79, 3)), CFG, at(5))
    assert (d.severity, d.action) == (Severity.CRITICAL, Action.REBOOT)
    assert len(d.findings) == 3 and d.findings[0].reason is ReasonCode.GPU_XID


def test_a_late_older_condition_does_not_overwrite_a_newer_one():
    h = health(condition(N, ConditionType.READY, True, 5, 6), not_ready(N, 0, 1))
    assert h.conditions[ConditionType.READY].status is True


def test_duplicate_signals_fold_to_the_same_view():
    assert health(xid(N, 79, 1), xid(N, 79, 1)) == health(xid(N, 79, 1))


def test_evidence_from_before_a_repair_is_ignored():
    h = reset_after_repair(health(xid(N, 79, 1)), at(30))
    h = observe(h, xid(N, 48, 20))  # arrives late, happened before the repair
    assert diagnose(h, CFG, at(31)).action is Action.NONE


def test_silence_after_a_repair_counts_from_the_repair():
    h = reset_after_repair(health(heartbeat(N, 0)), at(30))
    assert diagnose(h, CFG, at(32)).action is Action.NONE
    assert diagnose(h, CFG, at(34)).action is Action.REBOOT
