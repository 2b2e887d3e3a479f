"""The placer: the service's decisions from events, on the real placement core (no Kafka, no Postgres)."""

from __future__ import annotations

import pytest
from scheduler_builders import inventoried, reserved

from libs.events import TopologyRequest
from libs.placement import DecisionKind, PlacementPolicy, Snapshot, Strategy
from services.scheduler.engine import Placer, pending_of
from libs.placement.policy_file import load_policy, policy_from_dict, PolicyError


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def placer_with(*nodes, preemption: bool = True, min_runtime_s: float = 0.0, policy=None, clock=None) -> Placer:
    p = Placer(Snapshot(), policy or PlacementPolicy(), clock=clock or Clock(), preemption=preemption,
               min_runtime_s=min_runtime_s)
    for n in nodes:
        p.apply_inventory(n)
    return p


def decided(placer: Placer, only: str | None = None) -> list:
    """The decisions a cycle asks the handlers to record (without the reservations they are about)."""
    return [d for _, d in placer.cycle(only)]


def submit(placer: Placer, builder, seq: int = 1):
    reservation = builder.build()
    placer.enqueue(pending_of(reservation, seq, {}))
    return decided(placer, only=reservation.workload_id)


def test_places_a_gang_with_exact_gpus_and_binds_it() -> None:
    p = placer_with(inventoried("n1"), inventoried("n2"))
    [d] = submit(p, reserved("w").pods("workers", 2, gpu=4))
    assert d.kind == DecisionKind.PLACED and d.placement.cluster == "dc1"
    assert [(pod.node, [g for g, _ in pod.gpus]) for pod in d.pods] == [("n1", [0, 1, 2, 3]), ("n1", [4, 5, 6, 7])]
    assert "w" not in p.pending and set(p.snapshot.workload_pods["w"]) == {"w/workers/0", "w/workers/1"}


def test_unschedulable_carries_the_per_filter_message_once_per_change() -> None:
    p = placer_with(inventoried("n1"), inventoried("n2", model="H100"), inventoried("c1", pool="cpu", gpus=0))
    p.set_repair_state("n1", "cordoned")
    [d] = submit(p, reserved("w").pods("workers", 1, gpu=8, model="A100"))
    assert (d.kind, d.reason) == (DecisionKind.UNSCHEDULABLE, "NodeCordoned")  # ties: first filter
    assert "0/3 nodes: 1 outside the assigned flavor's cluster/pool, 1 cordoned, 1 lack GPU model A100" in d.message
    assert decided(p) == []  # same reason: nothing new to say
    p.set_repair_state("n1", "healthy")
    [again] = decided(p)
    assert again.kind == DecisionKind.PLACED


def test_never_fits_only_when_no_node_of_the_flavor_could_ever_hold_a_pod() -> None:
    p = placer_with(inventoried("n1", gpus=4), inventoried("n2", gpus=4))
    p.set_repair_state("n1", "repairing")  # transient: not a reason to give up
    [d] = submit(p, reserved("w").pods("big", 1, gpu=8))
    assert d.kind == DecisionKind.NEVER_FITS and d.reason == "never-fits"
    assert d.message == ("pod set big: none of the 2 nodes of its flavor could hold one pod even when empty "
                         "(2 have too few GPUs)")
    assert "w" not in p.pending


def test_a_flavor_with_no_known_node_waits_instead_of_never_fitting() -> None:
    p = placer_with(inventoried("n1"))
    [d] = submit(p, reserved("w").flavor("aws", "h100").pods("p", 1, gpu=1))
    assert d.kind == DecisionKind.UNSCHEDULABLE and "w" in p.pending
    p.apply_inventory(inventoried("h1", cluster="aws", pool="h100", model="H100"))
    [placed] = decided(p)
    assert placed.kind == DecisionKind.PLACED and placed.pods[0].node == "h1"


def test_a_flavor_spanning_clouds_goes_to_the_cheaper_one_and_says_why() -> None:
    p = placer_with(inventoried("aws-1", cluster="aws", pool="cpu-spot", gpus=0, price_micros=650_000),
                    inventoried("gcp-1", cluster="gcp", pool="cpu-spot", gpus=0, price_micros=420_000))
    builder = reserved("w").flavor(None, "cpu-spot").pods("p", 2, cpu=8000)
    [d] = submit(p, builder)
    assert d.kind == DecisionKind.PLACED and d.placement.cluster == "gcp"
    assert d.placement.why_cluster == "gcp ($0.10/h): the cheapest cluster where it fits; aws $0.16/h"


def test_freed_capacity_goes_to_the_highest_priority_pending_workload_first() -> None:
    p = placer_with(inventoried("n1"), preemption=False)
    submit(p, reserved("running").pods("p", 1, gpu=8))
    submit(p, reserved("low").priority(1).pods("p", 1, gpu=8), seq=2)
    submit(p, reserved("high").priority(9).pods("p", 1, gpu=8), seq=3)
    assert p.free("running")
    decisions = decided(p)
    assert [(d.workload_id, d.kind) for d in decisions if d.kind == DecisionKind.PLACED] == \
        [("high", DecisionKind.PLACED)]


def test_removed_and_retired_nodes_free_nothing_twice_and_take_no_pods() -> None:
    p = placer_with(inventoried("n1"), inventoried("n2"))
    submit(p, reserved("w").pods("p", 1, gpu=8))
    p.apply_inventory(inventoried("n1", removed=True))
    p.set_repair_state("n2", "retired")
    [d] = submit(p, reserved("x").pods("p", 1, gpu=8), seq=2)
    assert d.kind == DecisionKind.UNSCHEDULABLE and "1 unhealthy" in d.message


def test_preemption_asks_whole_lower_priority_gangs_to_leave_and_waits_for_them() -> None:
    clock = Clock(0.0)
    p = placer_with(inventoried("n1"), inventoried("n2"), clock=clock, min_runtime_s=60)
    submit(p, reserved("low").priority(1).pods("p", 2, gpu=8))
    clock.now = 30.0
    [young] = submit(p, reserved("high").priority(9).pods("p", 1, gpu=8), seq=2)
    assert young.kind == DecisionKind.UNSCHEDULABLE  # the victim has not run its minimum yet
    clock.now = 61.0
    [d] = decided(p)
    assert d.kind == DecisionKind.PREEMPTING and [v.workload_id for v in d.victims] == ["low"]
    assert set(d.victims[0].pods) == {"low/p/0", "low/p/1"}  # the whole gang
    [wait] = decided(p)
    assert wait.reason == "preempting" and "waiting for 1 preempted" in wait.message
    assert decided(p) == []  # no second request while the victim is still there
    p.free("low")
    [placed] = decided(p)
    assert placed.kind == DecisionKind.PLACED


def test_no_preemption_of_equal_priority_or_when_disabled() -> None:
    for preemption, prio in ((True, 1), (False, 9)):
        p = placer_with(inventoried("n1"), preemption=preemption)
        submit(p, reserved("low").priority(1).pods("p", 1, gpu=8))
        [d] = submit(p, reserved("other").priority(prio).pods("p", 1, gpu=8), seq=2)
        assert d.kind == DecisionKind.UNSCHEDULABLE


def test_elastic_gang_is_placed_partly_above_its_minimum() -> None:
    p = placer_with(inventoried("n1"))
    [d] = submit(p, reserved("w").pods("workers", 4, gpu=4, min_count=2))
    assert d.kind == DecisionKind.PLACED and len(d.pods) == 2


def test_required_rack_topology_keeps_a_gang_in_one_rack() -> None:
    p = placer_with(inventoried("a1", rack="ra"), inventoried("b1", rack="rb"), inventoried("b2", rack="rb"))
    [d] = submit(p, reserved("w").pods("p", 2, gpu=8, topology=TopologyRequest(level="rack")))
    assert {pod.node for pod in d.pods} == {"b1", "b2"}


def test_unchanged_inventory_is_not_a_change() -> None:
    p = placer_with(inventoried("n1"))
    assert not p.apply_inventory(inventoried("n1"))
    assert p.apply_inventory(inventoried("n1", labels={"x": "y"}))


def test_policy_yaml_selects_fgd_per_pool(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("default: binpack\npools: {l4: fgd}\n")
    policy = load_policy(path)
    assert policy.default == Strategy.BINPACK and policy.per_pool == {"l4": Strategy.FGD}
    assert policy.typical_pods  # FGD gets a default pod mix
    assert load_policy(tmp_path / "missing.yaml") == PlacementPolicy()
    with pytest.raises(PolicyError, match="choose one of"):
        policy_from_dict({"default": "random"})
    assert policy.fgd_stranding and not policy_from_dict({"fgd_stranding": False}).fgd_stranding
    assert policy.fgd_packing == 50.0 and policy.fgd_models  # the benchmarked policy (ADR 0017)
    assert policy_from_dict({"fgd_packing": 0, "fgd_models": False}).fgd_packing == 0.0
    with pytest.raises(PolicyError):
        policy_from_dict({"fgd_packing": -1})
    with pytest.raises(PolicyError, match="fgd_stranding must be true or false"):
        policy_from_dict({"fgd_stranding": "yes"})


def test_fgd_pool_places_shared_gpu_pods() -> None:
    policy = policy_from_dict({"pools": {"l4": "fgd"}})
    p = placer_with(inventoried("l1", pool="l4", gpus=4, model="L4"), policy=policy)
    [d] = submit(p, reserved("w").flavor("dc1", "l4").pods("p", 3, gpu_milli=500))
    assert d.kind == DecisionKind.PLACED and all(pod.gpus[0][1] == 500 for pod in d.pods)


def test_a_workload_before_any_node_waits_with_a_reason() -> None:
    p = placer_with()
    [d] = submit(p, reserved("w").pods("p", 1))
    assert (d.kind, d.reason, d.message) == (DecisionKind.UNSCHEDULABLE, "NoNodes",
                                             "0/0 nodes: no node has been inventoried yet")
    p.apply_inventory(inventoried("n1"))
    assert decided(p)[0].kind == DecisionKind.PLACED


def test_a_requeue_that_overtakes_the_end_of_the_previous_run_waits_for_it() -> None:
    p = placer_with(inventoried("n1"), inventoried("n2"))
    submit(p, reserved("w").pods("p", 1, gpu=8))
    assert submit(p, reserved("w").pods("p", 1, gpu=8), seq=2) == []  # quota re-reserved after an eviction
    [other] = submit(p, reserved("x").pods("p", 1, gpu=8), seq=3)  # the same shape is not held up by it
    assert other.kind == DecisionKind.PLACED
    assert "w" in p.pending
    assert p.free("w")  # the eviction arrives: the old run's pods go, the new reservation stays
    [d] = decided(p)
    assert d.placement.assignments[0].node == "n1"
    assert d.kind == DecisionKind.PLACED and d.workload_id == "w"


def test_identical_gangs_that_cannot_fit_are_decided_once_per_cycle() -> None:
    p = placer_with(inventoried("n1"), preemption=False)
    submit(p, reserved("run").pods("p", 1, gpu=8))
    for i in range(3):
        p.enqueue(pending_of(reserved(f"w{i}").pods("p", 1, gpu=8).build(), 10 + i, {}))
    assert [d.workload_id for d in decided(p)] == ["w0"]



def test_a_cycle_over_several_new_workloads_leaves_the_rest_of_the_queue_alone() -> None:
    p = placer_with(inventoried("n1"), inventoried("n2"))
    for seq, (wid, priority) in enumerate((("old", 0), ("a", 0), ("b", 3), ("c", 0)), start=1):
        p.enqueue(pending_of(reserved(wid).priority(priority).pods("p", 1, gpu=8).build(), seq, {}))
    assert decided(p, only=[]) == []  # no new workload: no cycle over the whole queue
    [first, second, third] = [d for _, d in p.cycle(["a", "b", "c", "gone"])]
    assert [(d.workload_id, d.kind) for d in (first, second, third)] == [
        ("b", DecisionKind.PLACED), ("a", DecisionKind.PLACED), ("c", DecisionKind.UNSCHEDULABLE)]  # priority first
    assert set(p.pending) == {"old", "c"} and p.pending["old"].last_reason is None  # "old" was not tried


def test_new_workloads_skipped_as_shaped_like_one_that_failed_get_a_cycle_of_their_own() -> None:
    p = placer_with(inventoried("n1"), preemption=False)
    submit(p, reserved("run").pods("p", 1, gpu=8))
    for i in range(3):
        p.enqueue(pending_of(reserved(f"w{i}").pods("p", 1, gpu=8).build(), 10 + i, {}))
    decisions = [d for _, d in p.place_arrivals(["w0", "w1", "w2"])]
    assert [(d.workload_id, d.kind) for d in decisions] == [(f"w{i}", DecisionKind.UNSCHEDULABLE) for i in range(3)]
    assert {p.pending[f"w{i}"].last_reason for i in range(3)} == {decisions[0].message}
    p.enqueue(pending_of(reserved("run").pods("p", 1, gpu=8).build(), 20, {}))  # a requeue: its old run is bound
    assert p.place_arrivals(["run"]) == []

def test_the_scheduler_joins_its_group_as_one_static_member() -> None:
    from libs.platform.settings import Settings
    from services.scheduler.app import DEFINITION

    settings = Settings(topic_namespace="ns").for_service("scheduler")
    # leader and standbys share the instance id: a new leader replaces a dead one at once (no session timeout)
    assert DEFINITION.group_instance_id(settings) == "ns.batchyard.scheduler.leader"


def test_a_cancelled_pending_workload_is_forgotten_and_never_placed() -> None:
    p = placer_with(inventoried("n1", gpus=8))
    [first] = submit(p, reserved("a").pods("w", 1, gpu=8))
    [waiting] = submit(p, reserved("b").pods("w", 1, gpu=8), seq=2)
    assert (first.kind, waiting.kind) == (DecisionKind.PLACED, DecisionKind.UNSCHEDULABLE)
    assert p.forget("b") == (True, False)  # it was pending, it holds no node
    p.free("a")
    assert decided(p) == [] and "b" not in p.snapshot.workload_pods  # the freed node does not go to b


def test_a_cancelled_placed_workload_keeps_its_nodes_until_its_pods_are_reported_stopped() -> None:
    p = placer_with(inventoried("n1", gpus=8))
    submit(p, reserved("a").pods("w", 1, gpu=8))
    assert p.forget("a") == (False, True)
    [waiting] = submit(p, reserved("b").pods("w", 1, gpu=8), seq=2)
    assert waiting.kind == DecisionKind.UNSCHEDULABLE  # a's pods may still run: its GPUs are not handed out
    p.free("a")  # the connector's end of a (WorkloadFailed, reason cancelled)
    [placed] = decided(p)
    assert (placed.workload_id, placed.kind) == ("b", DecisionKind.PLACED)


def test_a_running_gang_lowered_in_priority_becomes_a_victim_on_the_same_gpus() -> None:
    p = placer_with(inventoried("n1"))
    submit(p, reserved("running").priority(5).pods("p", 1, gpu=8))
    gpus = {pod: p.snapshot.pods[pod][1].gpus for pod in p.snapshot.workload_pods["running"]}
    [d] = submit(p, reserved("incoming").priority(5).pods("p", 1, gpu=8), seq=2)
    assert d.kind == DecisionKind.UNSCHEDULABLE  # equal priority: spared
    assert p.reprioritise("running", 1) == (False, True)
    assert {pod: p.snapshot.pods[pod][1].gpus for pod in p.snapshot.workload_pods["running"]} == gpus
    assert all(p.snapshot.pods[pod][1].priority == 1 for pod in gpus)
    [again] = decided(p)
    assert again.kind == DecisionKind.PREEMPTING and [v.workload_id for v in again.victims] == ["running"]


def test_a_pending_workload_raised_in_priority_preempts_and_goes_first() -> None:
    p = placer_with(inventoried("n1"))
    submit(p, reserved("running").priority(5).pods("p", 1, gpu=8))
    [d] = submit(p, reserved("waiting").priority(1).pods("p", 1, gpu=8), seq=2)
    assert d.kind == DecisionKind.UNSCHEDULABLE
    assert p.reprioritise("waiting", 9) == (True, False)
    assert p.pending["waiting"].reservation.priority == 9 == p.pending["waiting"].workload.priority
    [again] = decided(p)
    assert again.kind == DecisionKind.PREEMPTING and [v.workload_id for v in again.victims] == ["running"]


def test_reprioritising_an_unknown_workload_changes_nothing() -> None:
    p = placer_with(inventoried("n1"))
    assert p.reprioritise("nosuch", 3) == (False, False)


def test_the_deployed_policy_is_the_benchmarked_one_on_every_gpu_pool() -> None:
    # benchmarks/placement_fgd_mixes.py measures this file's FGD flags as "ours" (ADR 0017)
    from pathlib import Path
    policy = load_policy(Path(__file__).resolve().parents[3] / "deploy" / "scheduler" / "policy.yaml")
    assert {pool: policy.per_pool.get(pool) for pool in ("a100", "h100", "l4")} == dict.fromkeys(
        ("a100", "h100", "l4"), Strategy.FGD)
    assert policy.fgd_stranding and policy.fgd_models and policy.fgd_packing > 0 and not policy.fgd_quantized
