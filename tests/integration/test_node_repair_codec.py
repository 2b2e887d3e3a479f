"""Node repair's edges without servers: health reports -> planner signals, records <-> stored JSON, the policy YAML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from libs.events import NodeHealthReported
from libs.repair import (
    Action,
    ConditionObserved,
    ConditionType,
    DiskObserved,
    EccObserved,
    HeartbeatObserved,
    NodeHealth,
    NodeRecord,
    NodeState,
    OccupancyObserved,
    RepairAttempt,
    RepairFinished,
    XidObserved,
)
from services.node_repair import codec
from services.node_repair.config import RepairConfigError, load_repair_config

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
NODE = "onprem-dc1/a100-0001"


@pytest.mark.parametrize("report, expected", [
    pytest.param(dict(), [HeartbeatObserved(NODE, T0)], id="a-plain-report-is-a-heartbeat"),
    pytest.param(dict(heartbeat=False), [], id="a-missed-heartbeat-is-left-to-the-timeout"),
    pytest.param(dict(heartbeat=False, gpu=3, xid_codes=(79, 48)),
                 [XidObserved(NODE, T0, 79, 3), XidObserved(NODE, T0, 48, 3)], id="xids-on-a-gpu"),
    pytest.param(dict(heartbeat=False, gpu=2, ecc_uncorrectable=2, remap_failed=True),
                 [EccObserved(NODE, T0, 2, 0, 2, False, True)], id="ecc-counters"),
    pytest.param(dict(heartbeat=False, disk_used_percent=97, conditions={"DiskPressure": True},
                      conditions_since={"DiskPressure": T0 - timedelta(minutes=20)}),
                 [ConditionObserved(NODE, T0, ConditionType.DISK_PRESSURE, True, T0 - timedelta(minutes=20)),
                  DiskObserved(NODE, T0, 97)], id="disk-pressure-since-its-transition"),
    pytest.param(dict(heartbeat=False, running_pods=3, termination_grace_s=900),
                 [OccupancyObserved(NODE, T0, 3, timedelta(minutes=15))], id="occupancy-with-grace"),
    pytest.param(dict(repair_action="reimage", repair_ok=False, repair_detail="PXE timeout"),
                 [RepairFinished(NODE, T0, Action.REIMAGE, False, "PXE timeout")], id="a-repair-result"),
])
def test_health_reports_become_planner_signals(report, expected):
    assert codec.to_signals(NodeHealthReported(node_id=NODE, occurred_at=T0, **report)) == expected


def test_records_and_health_round_trip_through_json():
    record = NodeRecord(NODE, "a100", "onprem-dc1/a100-r0", NodeState.DRAINING, T0, Action.REBOOT, T0,
                        T0 + timedelta(minutes=10), (RepairAttempt(T0 - timedelta(hours=3), Action.REBOOT, True),))
    health = NodeHealth(NODE, {ConditionType.READY: ConditionObserved(NODE, T0, ConditionType.READY, True, T0)},
                        T0, frozenset({XidObserved(NODE, T0, 79, 1)}), {1: EccObserved(NODE, T0, 1, 5, 1)},
                        DiskObserved(NODE, T0, 50), T0 - timedelta(hours=1))
    assert codec.record_from_json(NODE, "a100", "onprem-dc1/a100-r0", codec.record_to_json(record)) == record
    assert codec.health_from_json(NODE, codec.health_to_json(health)) == health
    old = codec.health_to_json(health, forget_before=T0 + timedelta(seconds=1))
    assert old["xids"] == [], "XIDs outside the window are not stored"
    occ, res = OccupancyObserved(NODE, T0, 2, timedelta(seconds=90)), RepairFinished(NODE, T0, Action.REBOOT, True)
    assert codec.occupancy_from_json(NODE, codec.occupancy_to_json(occ)) == occ
    assert codec.result_from_json(NODE, codec.result_to_json(res)) == res


def test_policy_yaml_sets_budgets_and_timers(tmp_path):
    config = load_repair_config("deploy/fleet/repair-storm.yaml")
    assert config.safety.pool_max_out == Fraction(1, 10)
    assert config.diagnosis.heartbeat_timeout == timedelta(hours=4)
    assert load_repair_config(tmp_path / "missing.yaml").safety.pool_max_out == Fraction(1, 5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("safety: {pool_max_outt: 0.5}\n")
    with pytest.raises(RepairConfigError, match="pool_max_outt"):
        load_repair_config(bad)
