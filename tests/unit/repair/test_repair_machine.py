"""The per-node state machine: legal moves, rejections with reasons, history, rebuild."""

import dataclasses
import itertools

import pytest
from repair_builders import at

from libs.repair import (
    LEGAL,
    Action,
    NodeRecord,
    NodeState,
    ReasonCode,
    Verdict,
    apply,
    transition,
)

S = NodeState
REC = NodeRecord("n1", "gpu-a", "rack-0")

ILLEGAL = [(a, b) for a, b in itertools.product(S, S) if b not in LEGAL[a]]


@pytest.mark.parametrize(("src", "dst"), [(a, b) for a in S for b in sorted(LEGAL[a], key=lambda s: s.value)],
                         ids=lambda s: s.value)
def test_legal_transitions_apply(src, dst):
    out = transition(dataclasses.replace(REC, state=src), dst, ReasonCode.DIAGNOSED, at(1))
    assert out.verdict is Verdict.APPLIED
    assert (out.record.state, out.transition.from_state, out.transition.to_state) == (dst, src, dst)


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=[f"{a.value}->{b.value}" for a, b in ILLEGAL])
def test_illegal_transitions_are_rejected_with_a_reason(src, dst):
    rec = NodeRecord("n1", "gpu-a", "rack-0", state=src)
    out = transition(rec, dst, ReasonCode.DIAGNOSED, at(1))
    assert out.verdict is Verdict.REJECTED
    assert out.reason is ReasonCode.ILLEGAL_TRANSITION
    assert out.record is rec and out.transition is None
    assert f"cannot go from {src.value} to {dst.value}" in out.message


def test_the_full_cycle_records_a_repair_attempt_and_clears_the_want():
    rec = REC
    steps = [(S.CORDONED, ReasonCode.DIAGNOSED, Action.REBOOT), (S.DRAINING, ReasonCode.DRAIN_STARTED, None),
             (S.REPAIRING, ReasonCode.DRAIN_COMPLETE, None), (S.HEALTHY, ReasonCode.REPAIR_SUCCEEDED, None)]
    log = []
    for i, (to, reason, action) in enumerate(steps):
        out = transition(rec, to, reason, at(i), action=action, drain_deadline=at(10))
        rec, log = out.record, [*log, out.transition]
    assert rec.state is S.HEALTHY and rec.action is Action.NONE
    assert [(h.action, h.ok) for h in rec.history] == [(Action.REBOOT, True)]
    assert log[1].drain_deadline == at(10) and log[0].drain_deadline is None


def test_a_failed_repair_that_escalates_is_remembered_as_failed():
    rec = NodeRecord("n1", "gpu-a", "rack-0", state=S.REPAIRING, action=Action.REBOOT)
    out = transition(rec, S.REPAIRING, ReasonCode.REPAIR_FAILED, at(5), action=Action.REIMAGE)
    assert out.record.action is Action.REIMAGE
    assert [(h.action, h.ok) for h in out.record.history] == [(Action.REBOOT, False)]


def test_records_rebuild_from_their_transition_log():
    rec, log = REC, []
    for to, action in [(S.SUSPECT, Action.NONE), (S.CORDONED, Action.REIMAGE), (S.DRAINING, None),
                       (S.REPAIRING, None), (S.RETIRED, None)]:
        out = transition(rec, to, ReasonCode.DIAGNOSED, at(len(log)), action=action, drain_deadline=at(9))
        rec, log = out.record, [*log, out.transition]
    rebuilt = REC
    for t in log:
        rebuilt = apply(rebuilt, t)
    assert rebuilt == rec


def test_apply_refuses_an_impossible_log():
    bad = transition(NodeRecord("n1", "p", "r", state=S.DRAINING), S.REPAIRING, ReasonCode.DRAIN_COMPLETE, at(1))
    with pytest.raises(ValueError, match="cannot go from healthy to repairing"):
        apply(REC, bad.transition)

