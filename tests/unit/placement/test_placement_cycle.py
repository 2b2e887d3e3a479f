"""The one cycle (``schedule``) and the trial context manager, as the service and the replay use them."""

from __future__ import annotations

from placement_builders import digest, node, running, snapshot, workload

from libs.placement import DecisionKind, PlacementOutcome, PlacementPolicy, Waiting, schedule


def waiting(*builders, victims=()) -> list[Waiting]:
    return [Waiting(b.build(), seq, frozenset(victims)) for seq, b in enumerate(builders)]


def test_cycle_places_by_priority_then_arrival_and_plans_preemption_for_the_rest() -> None:
    snap = snapshot(node("a").gpus(8), node("b").gpus(8))
    running(snap, "low", "b", gpus=8, priority=0)
    pending = waiting(workload("third").priority(0).pods("p", gpus=4, cpu=1000),
                      workload("first").priority(5).pods("p", gpus=8),
                      workload("second").priority(5).pods("p", gpus=8, cpu=2000))
    result = schedule(snap, pending, PlacementPolicy(), 100.0)
    first, second, third = result.decisions
    assert [d.workload_id for d in result.decisions] == ["first", "second", "third"]
    assert first.kind == DecisionKind.PLACED and first.placement.outcome == PlacementOutcome.FIT
    assert (second.kind, second.reason) == (DecisionKind.PREEMPTING, "preempting")
    assert [v.workload_id for v in second.victims] == ["low"] and second.awaiting == {"low"}
    assert (third.kind, third.reason) == (DecisionKind.UNSCHEDULABLE, "InsufficientGpu")  # nothing below 0
    assert "low/0" in snap.pods  # finding victims evicts nothing


def test_a_gang_shaped_like_one_that_failed_is_skipped_and_a_bound_one_waits_for_its_old_run() -> None:
    snap = snapshot(node("a").gpus(8))
    running(snap, "old", "a", gpus=8, priority=9)
    pending = waiting(workload("x").pods("p", gpus=8), workload("y").pods("p", gpus=8),
                      workload("old").priority(9).pods("p", gpus=1))
    result = schedule(snap, pending, PlacementPolicy(), 100.0)
    assert [d.workload_id for d in result.decisions] == ["x"] and result.skipped == ("old", "y")


def test_waiting_for_victims_asks_for_no_more_and_a_flavor_that_could_never_hold_it_is_handed_back() -> None:
    snap = snapshot(node("a").gpus(8), node("b").gpus(4))
    running(snap, "low", "a", gpus=8, priority=0)
    running(snap, "low2", "b", gpus=4, priority=0)
    pending = waiting(workload("high").priority(5).pods("p", gpus=8), victims=["low", "gone"])
    pending += waiting(workload("huge").priority(5).pods("p", gpus=16))
    waits, huge = schedule(snap, pending, PlacementPolicy(), 100.0).decisions
    assert (waits.kind, waits.reason, waits.awaiting) == (DecisionKind.UNSCHEDULABLE, "preempting", {"low"})
    assert waits.message.startswith("waiting for 1 preempted workload(s) to leave: low;")
    assert (huge.kind, huge.reason) == (DecisionKind.NEVER_FITS, "never-fits")
    assert "could hold one pod even when empty (2 have too few GPUs)" in huge.message


def test_preemption_off_or_no_nodes_says_why() -> None:
    snap = snapshot(node("a").gpus(8))
    running(snap, "low", "a", gpus=8, priority=0)
    [d] = schedule(snap, waiting(workload("high").priority(5).pods("p", gpus=8)), PlacementPolicy(), 1.0,
                   preempt=False).decisions
    assert (d.kind, d.reason) == (DecisionKind.UNSCHEDULABLE, "InsufficientGpu")
    [none] = schedule(snapshot(), waiting(workload("w").pods("p", gpus=1)), PlacementPolicy(), 1.0).decisions
    assert (none.kind, none.reason) == (DecisionKind.UNSCHEDULABLE, "NoNodes")


def test_trial_rolls_back_unless_kept() -> None:
    snap = snapshot(node("a"))
    before = digest(snap)
    with snap.trial():
        running(snap, "w", "a")
    assert digest(snap) == before
    with snap.trial() as t:
        running(snap, "w", "a")
        t.keep()
    assert "w/0" in snap.pods


def test_unbind_workload_frees_every_pod_of_the_gang() -> None:
    snap = snapshot(node("a").gpus(8), node("b").gpus(8))
    running(snap, "gang", "a", gpus=8)
    running(snap, "gang", "b", gpus=4)
    freed = snap.unbind_workload("gang")
    assert len(freed) == 2 and not snap.pods and int(snap.gpu_full[:2].sum()) == 16
