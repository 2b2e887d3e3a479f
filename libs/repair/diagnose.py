"""Diagnosis: from a node's folded health to findings, a severity and a recommended action.

Each rule is a small function ``(health, config, now) -> [Finding]``. The diagnosis is the
maximum severity and action over all findings, and it keeps every finding as evidence.
Findings marked ``sticky`` are hardware evidence (a fallen-off GPU, a failed row remap):
the planner keeps acting on them after the signal goes quiet, until the node is repaired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.repair.codes import Action, ReasonCode, Severity
from libs.repair.signals import ConditionType, NodeHealth
from libs.repair.xid import xid_rule


@dataclass(frozen=True, slots=True)
class DiagnosisConfig:
    """Thresholds for turning signals into findings."""

    heartbeat_timeout: timedelta = timedelta(minutes=3)  # silence longer than this -> reboot
    # a cluster whose connector has not reached its API server for this long is unreachable (libs/repair/clusters);
    # shorter than heartbeat_timeout, so a partition is seen before its nodes' silence is diagnosed
    cluster_unreachable_after: timedelta = timedelta(seconds=60)
    not_ready_grace: timedelta = timedelta(minutes=5)  # Ready=False this long -> reboot
    pressure_grace: timedelta = timedelta(minutes=15)  # Disk/MemoryPressure this long -> act
    xid_window: timedelta = timedelta(hours=24)  # XIDs older than this are forgotten
    disk_warn_percent: int = 85
    disk_full_percent: int = 95  # at or above -> reimage (wipes local disks)
    correctable_ecc_threshold: int = 1000  # volatile single-bit errors per GPU -> suspect


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of evidence and what it calls for."""

    reason: ReasonCode
    severity: Severity
    action: Action
    evidence: str  # a sentence with the numbers, e.g. "XID 79 on GPU 3 at 10:02: fallen off the bus"
    sticky: bool = False  # hardware evidence: keep acting on it until the node is repaired


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The verdict for one node at one instant."""

    node: str
    at: datetime
    severity: Severity
    action: Action
    findings: tuple[Finding, ...]  # all evidence, worst first

    @property
    def sticky_action(self) -> Action:
        """Returns the strongest action among sticky findings (NONE if there are none)."""
        return max((f.action for f in self.findings if f.sticky), default=Action.NONE)

    @property
    def summary(self) -> str:
        """Returns the worst findings' evidence joined into one line."""
        worst = [f.evidence for f in self.findings if f.severity == self.severity]
        return "; ".join(worst) or "healthy"


def _conditions(h: NodeHealth, c: DiagnosisConfig, now: datetime) -> list[Finding]:
    out = []
    ready = h.conditions.get(ConditionType.READY)
    if ready is not None and not ready.status:
        held = now - ready.since
        crit = held >= c.not_ready_grace
        out.append(Finding(ReasonCode.NODE_NOT_READY, Severity.CRITICAL if crit else Severity.WARNING,
                           Action.REBOOT if crit else Action.OBSERVE,
                           f"Ready=False for {_mins(held)} (grace {_mins(c.not_ready_grace)})"))
    net = h.conditions.get(ConditionType.NETWORK_UNAVAILABLE)
    if net is not None and net.status:
        out.append(Finding(ReasonCode.NETWORK_UNAVAILABLE, Severity.CRITICAL, Action.REBOOT,
                           f"NetworkUnavailable=True since {net.since:%H:%M}"))
    for kind, reason, action in (
        (ConditionType.DISK_PRESSURE, ReasonCode.DISK_PRESSURE, Action.REIMAGE),
        (ConditionType.MEMORY_PRESSURE, ReasonCode.MEMORY_PRESSURE, Action.REBOOT),
    ):
        cond = h.conditions.get(kind)
        if cond is not None and cond.status:
            held = now - cond.since
            crit = held >= c.pressure_grace
            out.append(Finding(reason, Severity.CRITICAL if crit else Severity.WARNING,
                               action if crit else Action.OBSERVE,
                               f"{kind.value}=True for {_mins(held)} (grace {_mins(c.pressure_grace)})"))
    return out


def _heartbeat(h: NodeHealth, c: DiagnosisConfig, now: datetime) -> list[Finding]:
    last = h.last_heartbeat or h.cleared_at
    if last is None or now - last <= c.heartbeat_timeout:
        return []
    return [Finding(ReasonCode.HEARTBEAT_LOST, Severity.CRITICAL, Action.REBOOT,
                    f"no heartbeat for {_mins(now - last)} (timeout {_mins(c.heartbeat_timeout)})")]


def _xids(h: NodeHealth, c: DiagnosisConfig, now: datetime) -> list[Finding]:
    out = []
    for x in sorted(h.xids, key=lambda x: (x.at, x.gpu, x.code)):
        if now - x.at > c.xid_window or x.at > now:
            continue
        rule = xid_rule(x.code)
        reason = ReasonCode.GPU_XID_APPLICATION if rule.app_fault else ReasonCode.GPU_XID
        out.append(Finding(reason, rule.severity, rule.action,
                           f"XID {x.code} on GPU {x.gpu} at {x.at:%H:%M}: {rule.meaning}", rule.sticky))
    return out


def _ecc(h: NodeHealth, c: DiagnosisConfig, now: datetime) -> list[Finding]:
    out = []
    for gpu, e in sorted(h.ecc.items()):
        if e.remap_failed:
            out.append(Finding(ReasonCode.ROW_REMAP_FAILED, Severity.CRITICAL, Action.REPLACE,
                               f"GPU {gpu}: row remapping failed", sticky=True))
        if e.uncorrectable > 0:
            out.append(Finding(ReasonCode.ECC_UNCORRECTABLE, Severity.CRITICAL, Action.REBOOT,
                               f"GPU {gpu}: {e.uncorrectable} uncorrectable ECC errors", sticky=True))
        if e.remap_pending:
            out.append(Finding(ReasonCode.ROW_REMAP_PENDING, Severity.WARNING, Action.OBSERVE,
                               f"GPU {gpu}: row remap pending a GPU reset"))
        if e.correctable >= c.correctable_ecc_threshold:
            out.append(Finding(ReasonCode.ECC_CORRECTABLE_RATE, Severity.WARNING, Action.OBSERVE,
                               f"GPU {gpu}: {e.correctable} correctable ECC errors "
                               f"(threshold {c.correctable_ecc_threshold})"))
    return out


def _disk(h: NodeHealth, c: DiagnosisConfig, now: datetime) -> list[Finding]:
    d = h.disk
    if d is None or d.used_percent < c.disk_warn_percent:
        return []
    full = d.used_percent >= c.disk_full_percent
    return [Finding(ReasonCode.DISK_FULL, Severity.CRITICAL if full else Severity.WARNING,
                    Action.REIMAGE if full else Action.OBSERVE,
                    f"disk {d.used_percent}% used (warn {c.disk_warn_percent}%, "
                    f"full {c.disk_full_percent}%)")]


RULES = (_conditions, _heartbeat, _xids, _ecc, _disk)


def diagnose(health: NodeHealth, config: DiagnosisConfig, now: datetime) -> Diagnosis:
    """Returns the diagnosis of one node at ``now``: worst severity, strongest action, evidence."""
    findings = [f for rule in RULES for f in rule(health, config, now)]
    findings.sort(key=lambda f: (f.severity, f.action), reverse=True)
    severity = max((f.severity for f in findings), default=Severity.OK)
    action = max((f.action for f in findings), default=Action.NONE)
    return Diagnosis(health.node, now, severity, action, tuple(findings))


def _mins(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"
