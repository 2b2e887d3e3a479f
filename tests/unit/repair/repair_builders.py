"""Builders for node-repair tests: fleets, signals, and a cycle driver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.repair import (
    ConditionObserved,
    ConditionType,
    FleetState,
    HeartbeatObserved,
    NodeRecord,
    OccupancyObserved,
    RepairFinished,
    XidObserved,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float = 0) -> datetime:
    """Returns T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def fleet(pools: dict[str, int] | None = None, racks: int = 1) -> FleetState:
    """Returns a fleet: ``{"gpu-a": 10}`` -> gpu-a-00..09 spread round-robin over ``racks`` racks."""
    records = [
        NodeRecord(f"{pool}-{i:02d}", pool, f"rack-{i % racks}")
        for pool, n in (pools or {"gpu-a": 10}).items() for i in range(n)
    ]
    return FleetState.of(records)


def xid(node: str, code: int, minutes: float = 0, gpu: int = 0) -> XidObserved:
    return XidObserved(node, at(minutes), code, gpu)


def not_ready(node: str, since: float, minutes: float) -> ConditionObserved:
    return ConditionObserved(node, at(minutes), ConditionType.READY, False, at(since))


def condition(node: str, kind: ConditionType, status: bool, since: float, minutes: float) -> ConditionObserved:
    return ConditionObserved(node, at(minutes), kind, status, at(since))


def heartbeat(node: str, minutes: float) -> HeartbeatObserved:
    return HeartbeatObserved(node, at(minutes))


def empty(node: str, minutes: float) -> OccupancyObserved:
    return OccupancyObserved(node, at(minutes), 0)


def busy(node: str, minutes: float, pods: int = 3, grace_min: float = 0) -> OccupancyObserved:
    return OccupancyObserved(node, at(minutes), pods, timedelta(minutes=grace_min))


def repaired(node: str, minutes: float, action, ok: bool = True) -> RepairFinished:
    return RepairFinished(node, at(minutes), action, ok, "done" if ok else "failed")
