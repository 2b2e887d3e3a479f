"""Health signals for a node, and the folded view of them that diagnosis reads.

Signals arrive on the node-health topic keyed by node id. :func:`observe` folds one signal
into an immutable :class:`NodeHealth`. Folding is order-tolerant: condition and counter
snapshots keep the newest by timestamp, XIDs are a set, so a late or duplicate signal
cannot move the view backwards. After a repair, :func:`reset_after_repair` sets
``cleared_at`` and evidence from before it stops counting.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime


class ConditionType(enum.Enum):
    """Kubernetes node conditions that node-repair reads."""

    READY = "Ready"
    DISK_PRESSURE = "DiskPressure"
    MEMORY_PRESSURE = "MemoryPressure"
    NETWORK_UNAVAILABLE = "NetworkUnavailable"


@dataclass(frozen=True, slots=True)
class ConditionObserved:
    """A node condition's status, and since when it has held (lastTransitionTime)."""

    node: str
    at: datetime  # when the connector observed it
    type: ConditionType
    status: bool  # True means the condition holds (Ready=True is good, the others bad)
    since: datetime  # lastTransitionTime


@dataclass(frozen=True, slots=True)
class HeartbeatObserved:
    """The node agent (or kubelet lease) was heard from."""

    node: str
    at: datetime


@dataclass(frozen=True, slots=True)
class XidObserved:
    """The NVIDIA driver logged an XID on one GPU."""

    node: str
    at: datetime
    code: int
    gpu: int = 0  # GPU index on the node


@dataclass(frozen=True, slots=True)
class EccObserved:
    """A snapshot of one GPU's ECC and row-remapper counters (volatile = since last reset)."""

    node: str
    at: datetime
    gpu: int
    correctable: int = 0  # volatile single-bit (corrected) error count
    uncorrectable: int = 0  # volatile double-bit (uncorrectable) error count
    remap_pending: bool = False  # a row remap waits for a GPU reset
    remap_failed: bool = False  # a row remap has failed on this GPU


@dataclass(frozen=True, slots=True)
class DiskObserved:
    """Root / container filesystem usage in whole percent."""

    node: str
    at: datetime
    used_percent: int


HealthSignal = ConditionObserved | HeartbeatObserved | XidObserved | EccObserved | DiskObserved


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """Everything diagnosis needs to know about one node, folded from its signals."""

    node: str
    conditions: dict[ConditionType, ConditionObserved] = field(default_factory=dict)
    last_heartbeat: datetime | None = None  # newest heartbeat seen
    xids: frozenset[XidObserved] = frozenset()  # XIDs since cleared_at
    ecc: dict[int, EccObserved] = field(default_factory=dict)  # newest snapshot per GPU
    disk: DiskObserved | None = None  # newest disk usage
    cleared_at: datetime | None = None  # last repair; older evidence is ignored


def _newer(old, new) -> bool:
    return old is None or new.at >= old.at


def observe(health: NodeHealth, signal: HealthSignal) -> NodeHealth:
    """Returns ``health`` with ``signal`` folded in (signals older than cleared_at are dropped)."""
    if signal.node != health.node:
        raise ValueError(f"signal for {signal.node} folded into {health.node}")
    if health.cleared_at is not None and signal.at < health.cleared_at:
        return health
    replace = dataclasses.replace
    match signal:
        case ConditionObserved() if _newer(health.conditions.get(signal.type), signal):
            return replace(health, conditions={**health.conditions, signal.type: signal})
        case HeartbeatObserved() if health.last_heartbeat is None or signal.at > health.last_heartbeat:
            return replace(health, last_heartbeat=signal.at)
        case XidObserved():
            return replace(health, xids=health.xids | {signal})
        case EccObserved() if _newer(health.ecc.get(signal.gpu), signal):
            return replace(health, ecc={**health.ecc, signal.gpu: signal})
        case DiskObserved() if _newer(health.disk, signal):
            return replace(health, disk=signal)
    return health


def reset_after_repair(health: NodeHealth, at: datetime) -> NodeHealth:
    """Returns the view after a successful repair: evidence before ``at`` no longer counts."""
    return NodeHealth(health.node, conditions={}, last_heartbeat=None, cleared_at=at)
