"""The scheduler's state on real PostgreSQL: handlers write it, a restart rebuilds the same snapshot, and
the leader lock lets exactly one instance work (no Kafka needed)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from libs.events import NodeRepairTransitioned, WorkloadSucceeded
from libs.placement import PlacementPolicy
from libs.platform import store
from libs.platform.unit_of_work import UnitOfWork
from services.scheduler.handlers import SchedulerHandlers
from libs.platform.leader import LeaderLease, LeadershipLost
from services.scheduler.repository import load_placer

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "scheduler_service"))
from scheduler_builders import inventoried, reserved  # noqa: E402

pytestmark = pytest.mark.integration
SERVICE_DIR = Path(__file__).parents[2] / "services" / "scheduler"


@pytest.fixture
async def pool(database_url):
    pool = await store.create_pool(database_url, "scheduler")
    await store.migrate(pool, "scheduler", SERVICE_DIR)
    yield pool
    await pool.close()


def loader(pool):
    async def load():
        return await load_placer(pool, PlacementPolicy(), clock=lambda: 100.0, preemption=True, min_runtime_s=0)
    return load


async def handle(pool, handlers: SchedulerHandlers, event, handler) -> list:
    async with pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn=conn, producer="scheduler", namespace="t", cause=event)
        await handler(event, uow)
    return uow.emitted


def state_of(placer) -> tuple:
    snap = placer.snapshot
    pods = sorted((p.pod_id, p.node, p.gpus, p.priority, p.started_at) for _, p in snap.pods.values())
    used = {spec.name: (int(snap.cpu_used[i]), tuple(snap.gpu_left[i].tolist()), bool(snap.cordoned[i]),
                        bool(snap.healthy[i])) for i, spec in enumerate(snap.specs) if spec is not None}
    pending = sorted((w, p.last_reason, tuple(sorted(p.victims))) for w, p in placer.pending.items())
    return pods, used, pending


async def test_restart_rebuilds_the_exact_snapshot_from_postgres(pool) -> None:
    handlers = SchedulerHandlers(await loader(pool)(), load=loader(pool))
    for i in range(6):
        await handle(pool, handlers, inventoried(f"n{i}", gpus=8, rack=f"r{i // 2}"), handlers.handle_node_inventoried)
    await handle(pool, handlers, NodeRepairTransitioned(node_id="n5", from_state="healthy", to_state="draining",
                                                        reason="xid"), handlers.handle_node_repair_transitioned)
    reservations = [reserved("a").priority(1).pods("w", 3, gpu=2), reserved("b").pods("w", 2, gpu_milli=300),
                    reserved("c").priority(5).pods("w", 4, gpu=8), reserved("d").pods("w", 1, gpu=8),
                    reserved("e").pods("big", 1, gpu=16)]
    emitted = []
    for r in reservations:
        emitted += await handle(pool, handlers, r.build(), handlers.handle_quota_reserved)
    emitted += await handle(pool, handlers, WorkloadSucceeded(workload_id="b", cluster="dc1"),
                            handlers.handle_workload_ended)
    kinds = [(e.type, e.workload_id, getattr(e, "reason", None)) for e in emitted]
    assert ("WorkloadUnschedulable", "e", "never-fits") in kinds
    assert ("WorkloadUnschedulable", "d", "InsufficientGpu") in kinds
    placed_a = next(e for e in emitted if e.type == "WorkloadPlaced" and e.workload_id == "a")
    assert all(len(a.gpus) == 2 for a in placed_a.assignments)

    rebuilt = await loader(pool)()
    assert state_of(rebuilt) == state_of(handlers.placer)
    assert np.array_equal(rebuilt.snapshot.gpu_left[:6], handlers.placer.snapshot.gpu_left[:6])


async def test_placements_written_by_the_first_fit_scheduler_still_rebuild(pool) -> None:
    handlers = SchedulerHandlers(await loader(pool)(), load=loader(pool))
    await handle(pool, handlers, inventoried("n1", gpus=8), handlers.handle_node_inventoried)
    async with pool.acquire() as conn:
        await conn.execute("insert into placements(workload_id, cluster, pods) values ('old', 'dc1', $1::jsonb)",
                           json.dumps([["n1", 1000, 100, 3000], ["n1", 1000, 100, 500]]))
    placer = await loader(pool)()
    gpus = sorted(p.gpus for _, p in placer.snapshot.pods.values())
    assert gpus == [((0, 1000), (1, 1000), (2, 1000)), ((3, 500),)]
    assert placer.free("old")


async def test_a_failed_transaction_rebuilds_the_in_memory_state(pool) -> None:
    handlers = SchedulerHandlers(await loader(pool)(), load=loader(pool))
    await handle(pool, handlers, inventoried("n1", gpus=8), handlers.handle_node_inventoried)
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn:
            uow = UnitOfWork(conn=conn, producer="scheduler", namespace="t")
            try:
                async with conn.transaction():
                    await handlers.handle_quota_reserved(reserved("w").pods("p", 1, gpu=8).build(), uow)
                    assert "w" in handlers.placer.snapshot.workload_pods
                    raise RuntimeError("commit fails")
            except BaseException:
                await uow.run_on_rollback()
                raise
    placer = await handlers.current()
    assert "w" not in placer.snapshot.workload_pods and not placer.pending


async def test_one_leader_at_a_time_and_a_standby_takes_over_when_its_session_dies(pool, database_url) -> None:
    first = LeaderLease(database_url, "scheduler", "first", poll_s=0.1)
    second = LeaderLease(database_url, "scheduler", "second", poll_s=0.1)
    assert await first.acquire() == 1
    standby = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.5)
    assert not standby.done(), "the standby must wait while the leader lives"
    async with pool.acquire() as conn, conn.transaction():
        await first.fence(conn)
    await first.conn.close()  # what a SIGKILL does to the leader's session
    assert await asyncio.wait_for(standby, timeout=30) == 2
    async with pool.acquire() as conn, conn.transaction():
        await second.fence(conn)
        with pytest.raises(LeadershipLost):
            await first.fence(conn)
        rows = await conn.fetch("select term, instance from leadership order by term")
    assert [tuple(r) for r in rows] == [(1, "first"), (2, "second")]
    await second.release()


async def test_leadership_lost_is_retried_not_dead_lettered() -> None:
    from libs.platform.consumer import TRANSIENT
    assert issubclass(LeadershipLost, TRANSIENT)


async def test_preemption_is_requested_on_the_placement_topic_and_the_preemptor_placed_after_eviction(pool) -> None:
    from libs.events import Tenant, WorkloadEvicted
    handlers = SchedulerHandlers(await loader(pool)(), load=loader(pool))
    await handle(pool, handlers, inventoried("n1", gpus=8), handlers.handle_node_inventoried)
    low = reserved("low").priority(1).pods("w", 2, gpu=4).build().model_copy(
        update={"tenant": Tenant(org="globex", team="research")})
    await handle(pool, handlers, low, handlers.handle_quota_reserved)
    emitted = await handle(pool, handlers, reserved("high").priority(9).pods("w", 1, gpu=8).build(),
                           handlers.handle_quota_reserved)
    [request] = [e for e in emitted if e.type == "PreemptionRequested"]
    assert (request.workload_id, request.preemptor, request.preemptor_priority, request.victim_priority) == \
        ("low", "high", 9, 1)
    assert request.nodes == ("n1",) and str(request.tenant) == "globex/research"
    [unschedulable] = [e for e in emitted if e.type == "WorkloadUnschedulable"]
    assert unschedulable.reason == "preempting" and "low" in unschedulable.message
    async with pool.acquire() as conn:
        rows = await conn.fetch("select topic from outbox where headers->>'event-type' = 'PreemptionRequested'")
        topics = {r["topic"] for r in rows}
    assert topics == {"t.batchyard.workload.placement"}
    emitted = await handle(pool, handlers, WorkloadEvicted(workload_id="low", cluster="dc1", reason="preempted"),
                           handlers.handle_workload_ended)
    assert [(e.type, e.workload_id) for e in emitted] == [("WorkloadPlaced", "high")]
    assert state_of(await loader(pool)()) == state_of(handlers.placer)


async def test_a_rebuild_keeps_the_learned_pod_mix_and_the_unreachable_clusters(pool) -> None:
    from datetime import UTC, datetime

    from libs.events import ClusterReachabilityChanged
    from libs.placement import Strategy, TypicalPod
    from services.scheduler.engine import MIX_REFRESH

    prior = (TypicalPod(cpu_milli=8000, gpu_milli=1000, gpu_count=1, popularity=1.0),)
    policy = PlacementPolicy(default=Strategy.FGD, typical_pods=prior, learn_typical=True, typical_min_pods=10)

    async def load():
        return await load_placer(pool, policy, clock=lambda: 100.0, preemption=True, min_runtime_s=0)
    handlers = SchedulerHandlers(await load(), load=load)
    await handle(pool, handlers, inventoried("n1", cluster="dc1", gpus=8), handlers.handle_node_inventoried)
    await handle(pool, handlers, inventoried("n2", cluster="dc2", gpus=8), handlers.handle_node_inventoried)
    for i in range(MIX_REFRESH):
        await handle(pool, handlers, reserved(f"w{i}").pods("p", 1, gpu_milli=250, cpu=1000).build(),
                     handlers.handle_quota_reserved)
    await handle(pool, handlers, ClusterReachabilityChanged(cluster="dc2", reachable=False, since=datetime.now(UTC),
                                                            reason="ClusterUnreachable"),
                 handlers.handle_cluster_reachability_changed)
    learned = handlers.placer.policy.typical_pods
    assert learned != prior and learned[0].gpu_milli == 250

    rebuilt = await load()
    assert rebuilt.policy.typical_pods == learned and rebuilt.mix.seen == MIX_REFRESH
    assert rebuilt.snapshot.unreachable == {"dc2"}
    await handle(pool, handlers, ClusterReachabilityChanged(cluster="dc2", reachable=True, since=datetime.now(UTC),
                                                            reason="ClusterReachable"),
                 handlers.handle_cluster_reachability_changed)
    assert not (await load()).snapshot.unreachable
