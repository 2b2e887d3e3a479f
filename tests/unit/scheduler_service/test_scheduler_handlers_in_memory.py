"""The scheduler's handlers on the in-memory store (no Kafka, no PostgreSQL): what they emit and what rows they
would write, across a placement, a wait, node-level preemption and the victim's end."""

from __future__ import annotations

import pytest
from scheduler_builders import TENANT, inventoried, reserved
from test_scheduler_engine import placer_with

from libs.events import WorkloadEvicted, WorkloadSucceeded
from libs.platform.unit_of_work import UnitOfWork
from services.scheduler.handlers import SchedulerHandlers
from tests.support.scheduler_store import InMemorySchedulerStore


def uow() -> UnitOfWork:
    return UnitOfWork(conn=None, producer="scheduler", namespace="t", outbox_rows=[])  # outbox rows kept in memory


async def emitted(handle, event) -> list[tuple[str, str]]:
    work = uow()
    await handle(event, work)
    return [(e.type, e.workload_id or e.subject) for e in work.emitted]


@pytest.mark.asyncio
async def test_handlers_place_wait_preempt_and_replace_through_the_store() -> None:
    store = InMemorySchedulerStore()
    h = SchedulerHandlers(placer_with(), load=None, store=store)
    assert await emitted(h.handle_node_inventoried, inventoried("n1")) == []
    assert set(store.nodes) == {"n1"}

    assert await emitted(h.handle_quota_reserved, reserved("low").pods("p", 1, gpu=8).build()) == [
        ("WorkloadPlaced", "low")]
    assert store.placements["low"].pods[0].node == "n1" and not store.pending

    assert await emitted(h.handle_quota_reserved, reserved("also-low").pods("p", 1, gpu=8).build()) == [
        ("WorkloadUnschedulable", "also-low")]
    assert "lack free GPU" in store.pending["also-low"].last_reason

    high = reserved("high").priority(9).pods("p", 1, gpu=8).build()
    assert await emitted(h.handle_quota_reserved, high) == [
        ("PreemptionRequested", "low"), ("WorkloadUnschedulable", "high")]
    assert store.pending["high"].victims == ["low"]
    # a later cycle says it waits (once), and asks no victim twice
    assert await emitted(h.handle_node_inventoried, inventoried("n1", rack="r1")) == [("WorkloadUnschedulable", "high")]
    assert store.pending["high"].last_reason.startswith("waiting for 1 preempted workload(s) to leave: low")
    assert await emitted(h.handle_node_inventoried, inventoried("n1", rack="r2")) == []

    evicted = WorkloadEvicted(workload_id="low", tenant=TENANT, cluster="dc1", reason="preempted")
    assert await emitted(h.handle_workload_ended, evicted) == [("WorkloadPlaced", "high")]
    assert set(store.placements) == {"high"} and set(store.pending) == {"also-low"}

    done = WorkloadSucceeded(workload_id="high", tenant=TENANT, cluster="dc1")
    assert await emitted(h.handle_workload_ended, done) == [("WorkloadPlaced", "also-low")]
    assert set(store.placements) == {"also-low"} and not store.pending


def reach(cluster: str, reachable: bool):
    from datetime import UTC, datetime

    from libs.events import ClusterReachabilityChanged
    return ClusterReachabilityChanged(cluster=cluster, reachable=reachable, since=datetime.now(UTC),
                                      reason="ClusterReachable" if reachable else "ClusterUnreachable")


@pytest.mark.asyncio
async def test_an_unreachable_cluster_takes_no_new_work_keeps_its_running_work_and_takes_work_again_when_back():
    store = InMemorySchedulerStore()
    h = SchedulerHandlers(placer_with(), load=None, store=store)
    for name, cluster in (("e1", "east"), ("w1", "west")):
        await emitted(h.handle_node_inventoried, inventoried(name, cluster=cluster, gpus=16))
    assert await emitted(h.handle_quota_reserved, reserved("runs-east").flavor("east", None).pods("p", 1, gpu=8)
                         .build()) == [("WorkloadPlaced", "runs-east")]

    assert await emitted(h.handle_cluster_reachability_changed, reach("east", False)) == []  # nothing evicted
    assert set(store.unreachable) == {"east"} and store.placements["runs-east"].cluster == "east"

    anywhere = reserved("anywhere").flavor(None, "a100").pods("p", 1, gpu=8).build()
    assert await emitted(h.handle_quota_reserved, anywhere) == [("WorkloadPlaced", "anywhere")]
    assert store.placements["anywhere"].cluster == "west"  # east had room, but is cut off
    pinned = reserved("pinned").flavor("east", None).pods("p", 1, gpu=8).build()
    assert await emitted(h.handle_quota_reserved, pinned) == [("WorkloadUnschedulable", "pinned")]
    assert "1 in an unreachable cluster" in store.pending["pinned"].last_reason, store.pending["pinned"].last_reason

    assert await emitted(h.handle_cluster_reachability_changed, reach("east", True)) == [("WorkloadPlaced", "pinned")]
    assert not store.unreachable and store.placements["pinned"].cluster == "east"
    assert set(store.placements) == {"runs-east", "anywhere", "pinned"}  # the running one was never placed twice


@pytest.mark.asyncio
async def test_the_typical_pods_are_learned_from_the_reservations_stored_and_taken_back_by_a_rebuild():
    from libs.placement import PlacementPolicy, Strategy, TypicalPod
    from services.scheduler.adapters import workload_of
    from services.scheduler.engine import MIX_REFRESH

    prior = (TypicalPod(cpu_milli=8000, gpu_milli=1000, gpu_count=1, popularity=1.0),)
    policy = PlacementPolicy(default=Strategy.FGD, typical_pods=prior, learn_typical=True, typical_min_pods=40)
    store = InMemorySchedulerStore()
    h = SchedulerHandlers(placer_with(policy=policy), load=None, store=store)
    for i in range(MIX_REFRESH - 1):  # 31 reservations of 2 half-GPU pods: 62 pods, but not yet looked at
        await emitted(h.handle_quota_reserved, reserved(f"w{i}").pods("p", 2, gpu_milli=500, cpu=2000).build())
    assert h.placer.policy.typical_pods == prior and store.pod_mix is None
    await emitted(h.handle_quota_reserved, reserved("w-last").pods("p", 1, gpu=4, cpu=8000).build())
    learned = h.placer.policy.typical_pods
    # 62 of 63 pods are half-GPU pods: over the 95 % coverage alone, so the whole mix (the 4-GPU pod is the tail)
    assert [(p.cpu_milli, p.gpu_count, p.gpu_milli, p.popularity) for p in learned] == [(2000, 1, 500, 1.0)]
    assert store.pod_mix is not None and store.pod_mix["seen"] == 63

    rebuilt = placer_with(policy=policy)
    rebuilt.restore_mix(store.pod_mix)
    assert rebuilt.policy.typical_pods == learned
    unlearned = placer_with(policy=PlacementPolicy(default=Strategy.FGD, typical_pods=prior))  # learning off
    for _ in range(MIX_REFRESH):
        unlearned.learn(workload_of(reserved("x").pods("p", 1, gpu=1).build()))
    assert unlearned.mix is None and unlearned.policy.typical_pods == prior
