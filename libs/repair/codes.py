"""Ordered outcome enums shared by diagnosis, the state machine and the planner.

``Severity`` and ``Action`` are ordered: ``max()`` over findings gives the diagnosis, and
the flap ladder climbs ``Action``. ``ReasonCode`` is the machine-readable half of every
transition and deferral; the human half is the message next to it.
"""

from __future__ import annotations

import enum
import functools


@functools.total_ordering
class _Ordered(enum.Enum):
    """An enum whose members compare by declaration order."""

    def _rank(self) -> int:
        return list(type(self)).index(self)

    def __lt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._rank() < other._rank()

    def __hash__(self) -> int:
        return hash(self.value)


class Severity(_Ordered):
    """How bad a finding is: OK < INFO < WARNING < CRITICAL."""

    OK = "ok"
    INFO = "info"  # worth recording, nothing to do (e.g. an application's own XID 13)
    WARNING = "warning"  # watch the node: suspect
    CRITICAL = "critical"  # take the node out and repair it


class Action(_Ordered):
    """What to do with a node, from nothing to taking it out of the fleet for good."""

    NONE = "none"
    OBSERVE = "observe"  # mark suspect, keep scheduling on it
    REBOOT = "reboot"  # reboot (also resets the GPUs: activates pending row remaps)
    REIMAGE = "reimage"  # reinstall OS / driver image, wipe local disks
    REPLACE = "replace"  # hardware swap or new cloud instance behind the same node identity
    RETIRE = "retire"  # remove from the fleet; a human decides what happens next


def escalate(action: Action) -> Action:
    """Returns the next rung of the flap ladder: reboot -> reimage -> retire; replace -> retire."""
    return {Action.REBOOT: Action.REIMAGE}.get(action, Action.RETIRE)


class ReasonCode(enum.Enum):
    """Why a finding, transition or deferral happened."""

    # findings
    NODE_NOT_READY = "node_not_ready"
    HEARTBEAT_LOST = "heartbeat_lost"
    DISK_PRESSURE = "disk_pressure"
    DISK_FULL = "disk_full"
    MEMORY_PRESSURE = "memory_pressure"
    NETWORK_UNAVAILABLE = "network_unavailable"
    GPU_XID = "gpu_xid"
    GPU_XID_APPLICATION = "gpu_xid_application"
    ECC_UNCORRECTABLE = "ecc_uncorrectable"
    ECC_CORRECTABLE_RATE = "ecc_correctable_rate"
    ROW_REMAP_PENDING = "row_remap_pending"
    ROW_REMAP_FAILED = "row_remap_failed"
    # transitions
    DIAGNOSED = "diagnosed"
    RECOVERED = "recovered"
    DRAIN_STARTED = "drain_started"
    DRAIN_COMPLETE = "drain_complete"
    DRAIN_GRACE_EXPIRED = "drain_grace_expired"
    REPAIR_SUCCEEDED = "repair_succeeded"
    REPAIR_FAILED = "repair_failed"
    REPAIR_TIMED_OUT = "repair_timed_out"
    FLAPPING = "flapping"
    OPS_FORCED = "ops_forced"
    # deferrals
    POOL_AT_BUDGET = "pool_at_budget"
    DOMAIN_AT_BUDGET = "domain_at_budget"
    RATE_LIMITED = "rate_limited"
    PAUSED = "paused"
    EXCLUDED = "excluded"
    ILLEGAL_TRANSITION = "illegal_transition"
