"""The per-node repair state machine: states, legal moves, and transitions as plain data.

    healthy ──▶ suspect ──▶ cordoned ──▶ draining ──▶ repairing ──▶ healthy
       │  ▲        │           │  ▲                     │  ▲  │
       │  └────────┘           ▼  │ (uncordon)          └──┘  └──▶ retired
       └──────────────────────▶ cordoned           (escalate)     ▲
                                        draining ─────────────────┘ (retire after drain)

A :class:`Transition` is what a service persists and emits (``NodeCordoned``,
``NodeDrainStarted`` ...). :func:`transition` never raises for an illegal move. It returns a
rejected :class:`TransitionOutcome` with a reason, so callers handle it like any other "no".
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime

from libs.repair.codes import Action, ReasonCode


class NodeState(enum.Enum):
    """Where a node is in the repair cycle."""

    HEALTHY = "healthy"
    SUSPECT = "suspect"  # warning signs; still schedulable
    CORDONED = "cordoned"  # no new work
    DRAINING = "draining"  # running work is being evicted within its grace period
    REPAIRING = "repairing"  # a reboot / reimage / replace is in progress
    RETIRED = "retired"  # out of the fleet for good


OUT_STATES = frozenset({NodeState.CORDONED, NodeState.DRAINING, NodeState.REPAIRING})
"""States that count against the safety budgets ("out")."""

LEGAL: dict[NodeState, frozenset[NodeState]] = {
    NodeState.HEALTHY: frozenset({NodeState.SUSPECT, NodeState.CORDONED}),
    NodeState.SUSPECT: frozenset({NodeState.HEALTHY, NodeState.CORDONED}),
    NodeState.CORDONED: frozenset({NodeState.DRAINING, NodeState.HEALTHY}),
    NodeState.DRAINING: frozenset({NodeState.REPAIRING, NodeState.RETIRED}),
    NodeState.REPAIRING: frozenset({NodeState.HEALTHY, NodeState.REPAIRING, NodeState.RETIRED}),
    NodeState.RETIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class RepairAttempt:
    """One finished repair, kept for flap detection."""

    at: datetime  # when it finished
    action: Action
    ok: bool


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """node-repair's durable view of one node."""

    node: str
    pool: str
    domain: str  # topology failure domain, e.g. the rack
    state: NodeState = NodeState.HEALTHY
    since: datetime | None = None  # when the current state was entered
    action: Action = Action.NONE  # the repair wanted (suspect) or under way (out states)
    wanted_since: datetime | None = None  # first time the current want was seen; queue order
    drain_deadline: datetime | None = None  # draining: when the grace period ends
    history: tuple[RepairAttempt, ...] = ()  # finished repairs, oldest first

    @property
    def is_out(self) -> bool:
        """Returns True when the node counts against the safety budgets."""
        return self.state in OUT_STATES


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change: the record a service persists and publishes."""

    node: str
    from_state: NodeState
    to_state: NodeState
    reason: ReasonCode
    at: datetime
    action: Action = Action.NONE  # the repair this transition is part of
    evidence: tuple[str, ...] = ()  # human-readable evidence, e.g. diagnosis findings
    drain_deadline: datetime | None = None  # set when entering DRAINING


class Verdict(enum.Enum):
    """Whether a requested transition was applied."""

    APPLIED = "applied"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class TransitionOutcome:
    """The result of :func:`transition`: the new record and its transition, or a reason why not."""

    verdict: Verdict
    record: NodeRecord  # the new record if applied, else the unchanged one
    transition: Transition | None = None
    reason: ReasonCode | None = None
    message: str = ""


def transition(record: NodeRecord, to: NodeState, reason: ReasonCode, at: datetime, *,
               action: Action | None = None, evidence: tuple[str, ...] = (),
               drain_deadline: datetime | None = None) -> TransitionOutcome:
    """Returns the outcome of moving ``record`` to ``to``; illegal moves are rejected, not raised.

    Leaving REPAIRING appends a :class:`RepairAttempt` (ok only when the node is HEALTHY
    again) to the history that flap detection reads; reaching HEALTHY clears the want.
    """
    if to not in LEGAL[record.state]:
        return TransitionOutcome(
            Verdict.REJECTED, record, reason=ReasonCode.ILLEGAL_TRANSITION,
            message=f"{record.node}: cannot go from {record.state.value} to {to.value}")
    act = record.action if action is None else action
    history = record.history
    if record.state is NodeState.REPAIRING:
        history = (*history, RepairAttempt(at, record.action, ok=to is NodeState.HEALTHY))
    healthy = to is NodeState.HEALTHY
    deadline = drain_deadline if to is NodeState.DRAINING else None
    new = dataclasses.replace(
        record, state=to, since=at, action=Action.NONE if healthy else act,
        wanted_since=None if healthy else (record.wanted_since or at),
        drain_deadline=deadline, history=history)
    t = Transition(record.node, record.state, to, reason, at, act, evidence, deadline)
    return TransitionOutcome(Verdict.APPLIED, new, t)


def apply(record: NodeRecord, t: Transition) -> NodeRecord:
    """Returns ``record`` after a persisted transition; used to rebuild state from the log."""
    out = transition(record, t.to_state, t.reason, t.at, action=t.action, evidence=t.evidence,
                     drain_deadline=t.drain_deadline)
    if out.verdict is Verdict.REJECTED:
        raise ValueError(out.message)
    return out.record
