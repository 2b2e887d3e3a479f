"""Pure node-repair core: diagnosis from health signals, the per-node state machine, and a
budgeted planner. No I/O, no clock: ``now`` is passed in. See docs/node-repair.md.
"""

from libs.repair.budget import BudgetLedger, Overrides, SafetyConfig, Start, limit
from libs.repair.codes import Action, ReasonCode, Severity, escalate
from libs.repair.diagnose import Diagnosis, DiagnosisConfig, Finding, diagnose
from libs.repair.fleet import FleetSignal, FleetState, OccupancyObserved, RepairFinished, fold
from libs.repair.machine import (
    LEGAL,
    OUT_STATES,
    NodeRecord,
    NodeState,
    RepairAttempt,
    Transition,
    TransitionOutcome,
    Verdict,
    apply,
    transition,
)
from libs.repair.planner import Deferred, Plan, RepairConfig, plan
from libs.repair.signals import (
    ConditionObserved,
    ConditionType,
    DiskObserved,
    EccObserved,
    HealthSignal,
    HeartbeatObserved,
    NodeHealth,
    XidObserved,
    observe,
    reset_after_repair,
)
from libs.repair.xid import XID_RULES, XidRule, xid_rule

__all__ = [
    "LEGAL", "OUT_STATES", "XID_RULES", "Action", "BudgetLedger", "ConditionObserved",
    "ConditionType", "Deferred", "Diagnosis", "DiagnosisConfig", "DiskObserved", "EccObserved",
    "Finding", "FleetSignal", "FleetState", "HealthSignal", "HeartbeatObserved", "NodeHealth",
    "NodeRecord", "NodeState", "OccupancyObserved", "Overrides", "Plan", "ReasonCode",
    "RepairAttempt", "RepairConfig", "RepairFinished", "SafetyConfig", "Severity", "Start",
    "Transition", "TransitionOutcome", "Verdict", "XidObserved", "XidRule", "apply", "diagnose",
    "escalate", "fold", "limit", "observe", "plan", "reset_after_repair", "transition", "xid_rule",
]
