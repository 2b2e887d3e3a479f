"""The cycle API and the trial context manager, as a service or a replay would use them."""

from __future__ import annotations

from placement_builders import digest, node, running, snapshot, workload

from libs.placement import PlacementOutcome, PreemptionOutcome, run_cycle


def test_cycle_places_in_order_and_plans_preemption_for_the_rest() -> None:
    snap = snapshot(node("a").gpus(8), node("b").gpus(8))
    running(snap, "low", "b", gpus=8, priority=0)
    pending = [workload("first").priority(5).pods("p", gpus=8).build(),
               workload("second").priority(5).pods("p", gpus=8).build(),
               workload("third").priority(0).pods("p", gpus=8).build()]
    first, second, third = run_cycle(snap, pending, now=100.0)
    assert first.placement.outcome == PlacementOutcome.FIT and first.preemption is None
    assert second.placement.outcome == PlacementOutcome.NO_FIT
    assert second.preemption.outcome == PreemptionOutcome.FOUND
    assert [v.workload_id for v in second.preemption.victims] == ["low"]
    assert third.preemption is None  # nothing below priority 0 to evict
    assert "low/0" in snap.pods  # finding victims evicts nothing


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
