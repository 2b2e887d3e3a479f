"""The repair planner: ``plan(fleet, signals, config, now) -> Plan``. Pure and deterministic.

One cycle, in order:

1. **fold** the new signals into the fleet's health, occupancy and repair results;
2. **progress** nodes already out: cordoned -> draining, draining -> repairing (empty, or
   grace over), repairing -> healthy / escalated / retired (result, or timeout);
3. **diagnose** every live node (after progress, so a just-repaired node starts clean);
4. **triage** healthy and suspect nodes into wants (observe, or a repair), with flap
   escalation (reboot -> reimage -> retire) and ops forcing;
5. **admit** repair wants in priority order (forced, worst severity, longest waiting,
   node id) under pauses, rate limits, pool and domain budgets. Admitted nodes are cordoned
   and start draining. The rest are deferred with a reason and stay suspect.

The result is data: the transitions to persist and emit, the deferrals to show ops, the
diagnoses, and the next FleetState.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from libs.repair.budget import BudgetLedger, Overrides, SafetyConfig, Start
from libs.repair.codes import Action, ReasonCode, Severity, escalate
from libs.repair.diagnose import Diagnosis, DiagnosisConfig, diagnose
from libs.repair.fleet import FleetSignal, FleetState, fold
from libs.repair.machine import NodeRecord, NodeState, Transition, Verdict, transition
from libs.repair.signals import reset_after_repair


@dataclass(frozen=True, slots=True)
class RepairConfig:
    """Everything the planner is tuned by."""

    diagnosis: DiagnosisConfig = field(default_factory=DiagnosisConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    overrides: Overrides = field(default_factory=Overrides)


@dataclass(frozen=True, slots=True)
class Deferred:
    """A node that needs a repair but must wait; the message says why, with the numbers."""

    node: str
    action: Action
    reason: ReasonCode
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of one planning cycle."""

    transitions: tuple[Transition, ...]
    deferred: tuple[Deferred, ...]
    diagnoses: dict[str, Diagnosis]
    fleet: FleetState  # the state to persist and feed to the next cycle


@dataclass(frozen=True, slots=True)
class _Want:
    rec: NodeRecord
    action: Action
    reason: ReasonCode
    severity: Severity
    evidence: tuple[str, ...]
    forced: bool
    sticky: Action  # the part of the want to remember while the node waits as suspect


class _Cycle:
    """Working state of one cycle; only plan() sees it."""

    def __init__(self, fleet: FleetState, config: RepairConfig, now: datetime) -> None:
        self.fleet, self.config, self.now = fleet, config, now
        self.records = dict(fleet.nodes)
        self.health = dict(fleet.health)
        self.results = dict(fleet.results)
        self.transitions: list[Transition] = []
        self.deferred: list[Deferred] = []
        self.starts = [s for s in fleet.starts if now - s.at < config.safety.rate_window]

    def move(self, rec: NodeRecord, to: NodeState, reason: ReasonCode, **kw) -> NodeRecord:
        out = transition(rec, to, reason, self.now, **kw)
        if out.verdict is Verdict.REJECTED:  # a planner bug, surfaced as data rather than a crash
            self.deferred.append(Deferred(rec.node, rec.action, ReasonCode.ILLEGAL_TRANSITION, out.message))
            return rec
        self.records[rec.node] = out.record
        self.transitions.append(out.transition)
        return out.record

    def start_drain(self, rec: NodeRecord) -> None:
        s = self.config.safety
        occ = self.fleet.occupancy.get(rec.node)
        grace = min(s.max_drain_grace, max(s.drain_grace, occ.grace if occ else s.drain_grace))
        self.move(rec, NodeState.DRAINING, ReasonCode.DRAIN_STARTED, drain_deadline=self.now + grace,
                  evidence=(f"grace {int(grace.total_seconds())}s",))

    def finish_drain(self, rec: NodeRecord) -> None:
        occ = self.fleet.occupancy.get(rec.node)
        empty = occ is not None and occ.running_pods == 0 and rec.since and occ.at >= rec.since
        expired = rec.drain_deadline is not None and self.now >= rec.drain_deadline
        if not (empty or expired):
            return
        reason = ReasonCode.DRAIN_COMPLETE if empty else ReasonCode.DRAIN_GRACE_EXPIRED
        to = NodeState.RETIRED if rec.action is Action.RETIRE else NodeState.REPAIRING
        self.move(rec, to, reason)

    def finish_repair(self, rec: NodeRecord) -> None:
        res = self.results.get(rec.node)
        fresh = res is not None and rec.since is not None and res.at >= rec.since and res.action is rec.action
        if fresh:
            del self.results[rec.node]
        timed_out = rec.since is not None and self.now - rec.since >= self.config.safety.repair_timeout
        if fresh and res.ok:
            self.move(rec, NodeState.HEALTHY, ReasonCode.REPAIR_SUCCEEDED, evidence=(res.detail,))
            self.health[rec.node] = reset_after_repair(self.fleet.health_of(rec.node), self.now)
        elif fresh or timed_out:
            reason = ReasonCode.REPAIR_FAILED if fresh else ReasonCode.REPAIR_TIMED_OUT
            nxt = escalate(rec.action)
            to = NodeState.RETIRED if nxt is Action.RETIRE else NodeState.REPAIRING
            detail = res.detail if fresh else f"no result after {self.config.safety.repair_timeout}"
            self.move(rec, to, reason, action=nxt, evidence=(f"{rec.action.value} failed: {detail}",))


def _progress(cycle: _Cycle) -> None:
    for node in sorted(cycle.records):
        rec = cycle.records[node]
        if rec.state is NodeState.CORDONED:
            cycle.start_drain(rec)
        elif rec.state is NodeState.DRAINING:
            cycle.finish_drain(rec)
        elif rec.state is NodeState.REPAIRING:
            cycle.finish_repair(rec)


def _want(cycle: _Cycle, rec: NodeRecord, diag: Diagnosis) -> _Want:
    remembered = rec.action if rec.state is NodeState.SUSPECT else Action.NONE
    action = max(diag.action, diag.sticky_action, remembered)
    reason, evidence = ReasonCode.DIAGNOSED, tuple(f.evidence for f in diag.findings)
    last = rec.history[-1] if rec.history else None
    if action >= Action.REBOOT and last and cycle.now - last.at <= cycle.config.safety.flap_window:
        if escalate(last.action) > action:
            action, reason = escalate(last.action), ReasonCode.FLAPPING
            evidence += (f"failed again within {cycle.config.safety.flap_window} of a "
                         f"{last.action.value} at {last.at:%Y-%m-%d %H:%M}",)
    asked = cycle.config.overrides.forced.get(rec.node)
    forced = asked is not None and not any(h.at >= asked for h in rec.history)  # one-shot
    if forced:
        action, reason = max(action, Action.REBOOT), ReasonCode.OPS_FORCED
        evidence += ("forced by ops",)
    sticky = max(diag.sticky_action, remembered)
    return _Want(rec, action, reason, diag.severity, evidence, forced, sticky)


def _triage(cycle: _Cycle, diagnoses: dict[str, Diagnosis]) -> list[_Want]:
    """Returns the repair wants; moves nodes between healthy and suspect as evidence comes and goes."""
    wants = []
    for node, diag in diagnoses.items():
        rec = cycle.records[node]
        if rec.state not in (NodeState.HEALTHY, NodeState.SUSPECT):
            continue
        w = _want(cycle, rec, diag)
        if w.action >= Action.REBOOT:
            wants.append(w)  # admitted -> cordoned; deferred -> suspect (see _admit)
        elif w.action is Action.OBSERVE and rec.state is NodeState.HEALTHY:
            cycle.move(rec, NodeState.SUSPECT, w.reason, action=w.sticky, evidence=w.evidence)
        elif w.action is Action.NONE and rec.state is NodeState.SUSPECT:
            cycle.move(rec, NodeState.HEALTHY, ReasonCode.RECOVERED)
    return wants


def _defer(cycle: _Cycle, w: _Want, reason: ReasonCode, message: str) -> None:
    cycle.deferred.append(Deferred(w.rec.node, w.action, reason, message))
    if w.rec.state is NodeState.HEALTHY:
        cycle.move(w.rec, NodeState.SUSPECT, w.reason, action=w.sticky, evidence=w.evidence)
    elif w.rec.action != w.sticky:  # remember hardware evidence while waiting
        cycle.records[w.rec.node] = dataclasses.replace(w.rec, action=w.sticky)


def _blocked(cycle: _Cycle, w: _Want, ledger: BudgetLedger) -> tuple[ReasonCode, str] | None:
    ov = cycle.config.overrides
    if w.rec.node in ov.excluded:
        return (ReasonCode.EXCLUDED, f"{w.rec.node} is excluded from automatic repair by ops")
    if w.forced:
        return None
    if ov.paused or w.rec.pool in ov.paused_pools:
        scope = "everywhere" if ov.paused else f"in pool {w.rec.pool}"
        return (ReasonCode.PAUSED, f"repairs paused by ops {scope}")
    return ledger.check(w.rec)


def _admit(cycle: _Cycle, wants: list[_Want]) -> None:
    ledger = BudgetLedger.of(cycle.records.values(), cycle.starts, cycle.config.safety, cycle.now)
    order = sorted(wants, key=lambda w: (not w.forced, -list(Severity).index(w.severity),
                                         w.rec.wanted_since or cycle.now, w.rec.node))
    for w in order:
        blocked = _blocked(cycle, w, ledger)
        if blocked:
            _defer(cycle, w, *blocked)
            continue
        ledger.book(w.rec)
        cycle.starts.append(Start(w.rec.node, w.rec.pool, cycle.now))
        rec = cycle.move(w.rec, NodeState.CORDONED, w.reason, action=w.action, evidence=w.evidence)
        cycle.start_drain(rec)


def plan(fleet: FleetState, signals: Iterable[FleetSignal], config: RepairConfig,
         now: datetime) -> Plan:
    """Returns the transitions, deferrals, diagnoses and next fleet state for one cycle."""
    fleet = fold(fleet, signals)  # 1. fold
    cycle = _Cycle(fleet, config, now)
    _progress(cycle)  # 2. progress nodes already out (a finished repair resets health)
    cycle.results = {n: r for n, r in cycle.results.items()  # a result for no repair is stale
                     if cycle.records[n].state is NodeState.REPAIRING}
    diagnoses = {n: diagnose(cycle.health.get(n) or fleet.health_of(n), config.diagnosis, now)
                 for n in sorted(cycle.records)  # 3. diagnose on post-repair health
                 if cycle.records[n].state is not NodeState.RETIRED}
    wants = _triage(cycle, diagnoses)  # 4. triage
    _admit(cycle, wants)  # 5. admit under budgets
    next_fleet = dataclasses.replace(fleet, nodes=cycle.records, health=cycle.health,
                                     results=cycle.results, starts=tuple(cycle.starts))
    return Plan(tuple(cycle.transitions), tuple(cycle.deferred), diagnoses, next_fleet)

