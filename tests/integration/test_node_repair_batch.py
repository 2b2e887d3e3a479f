"""Node repair over a poll batch, on a real PostgreSQL: one transaction whose rows are what handling each event in
turn leaves, in a few statements, locked in the planning cycle's order (clock, clusters, nodes), so that a batch and
a planning cycle running at once never deadlock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from libs.events import ClusterStatusReported, NodeHealthReported, NodeInventoried, Topology
from libs.platform.unit_of_work import UnitOfWork
from services.node_repair.app import DEFINITION
from services.node_repair.handlers import RepairHandlers
from tests.integration.test_kube_connector_batch import Counting
from tests.support.pools import migrated_pools

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inventory(node: str, pool: str = "gpu", removed: bool = False) -> NodeInventoried:
    cluster, name = node.split("/")
    return NodeInventoried(node_id=node, cluster=cluster, pool=pool, instance_type="p5", cpu_milli=8000,
                           memory_mib=32768, gpu=8, topology=Topology(zone=cluster, block="b1", rack=f"r-{name}",
                                                                        host=name), price_per_hour_micros=1,
                           removed=removed)


def health(node: str, seconds: int, ready: bool = True) -> NodeHealthReported:
    return NodeHealthReported(node_id=node, conditions={"Ready": ready}, occurred_at=T0 + timedelta(seconds=seconds))


def beat(cluster: str, seconds: int, reachable: bool = True) -> ClusterStatusReported:
    return ClusterStatusReported(cluster=cluster, reachable=reachable, occurred_at=T0 + timedelta(seconds=seconds))


def events() -> list:
    """Inventories, health reports and heartbeats of two clusters, interleaved; a node inventoried twice (its pool
    changed), a removed node, and times out of order."""
    return [inventory("aws/n2"), beat("gcp", 3), health("aws/n2", 5), inventory("aws/n1"), beat("aws", 4),
            health("aws/n1", 2, ready=False), inventory("gcp/n1"), beat("aws", 9, reachable=False),
            inventory("aws/n1", pool="gpu-2"), health("gcp/n1", 7), inventory("gcp/gone", removed=True),
            beat("gcp", 8), health("aws/n2", 6, ready=False)]


@pytest.fixture
async def pools(database_url):
    async with migrated_pools(database_url, ("node_repair_one", "node_repair_run"), DEFINITION.service_dir,
                              "repair_nodes, repair_signals, repair_clusters, repair_clock", size=3) as made:
        yield made


async def rows_of(pool) -> dict:
    return {"nodes": [tuple(r) for r in await pool.fetch("select node_id, pool, domain, cluster, state from "
                                                         "repair_nodes order by node_id")],
            "signals": [(r["node_id"], r["body"]) for r in await pool.fetch("select node_id, body::text as body "
                                                                            "from repair_signals order by seq")],
            "clusters": [tuple(r) for r in await pool.fetch("select cluster, reach::text from repair_clusters "
                                                            "order by cluster")],
            "clock": await pool.fetchval("select watermark from repair_clock where id = 1")}


async def test_a_poll_batch_leaves_the_rows_one_by_one_handling_leaves_in_a_few_statements(pools):
    one, run = pools
    handlers = RepairHandlers()
    router, evs = handlers.router(), events()
    for event in evs:
        async with one.acquire() as conn, conn.transaction():
            await router.route(event.type)(event, UnitOfWork(conn=conn, producer="node-repair", namespace="t"))
    async with run.acquire() as raw, raw.transaction():
        conn = Counting(raw)
        assert {router.batch_handlers[e.type] for e in evs} == {handlers.handle_batch}  # one run, however mixed
        await handlers.handle_batch(evs, [UnitOfWork(conn=conn, producer="node-repair", namespace="t") for _ in evs])
    assert await rows_of(run) == await rows_of(one)
    rows = await rows_of(run)
    assert [n[:2] for n in rows["nodes"]] == [("aws/n1", "gpu-2"), ("aws/n2", "gpu"), ("gcp/n1", "gpu")]
    assert [s[0] for s in rows["signals"]] == ["aws/n2", "aws/n1", "gcp/n1", "aws/n2"]  # in the order they came
    assert rows["clock"] == T0 + timedelta(seconds=9)
    # the clock once, two folds (a read and a write) per heartbeat, the nodes once, the signals once
    assert conn.statements == 1 + 2 * 4 + 1 + 1


async def test_a_batch_and_a_planning_cycle_at_once_do_not_deadlock(pools):
    """The cycle locks the clock's row, then writes nodes (repair_loop.cycle: planned_at, then save). A batch that
    inventories n1 and then reports n2's health, taken in that order, would hold n1 and wait for the clock while the
    cycle holds the clock and waits for n1: PostgreSQL would abort one. The batch takes the clock first."""
    pool, _ = pools
    handlers = RepairHandlers()
    async with pool.acquire() as conn:
        await handlers.handle_batch([inventory("aws/n1")], [UnitOfWork(conn=conn, producer="node-repair",
                                                                       namespace="t")])
    async with pool.acquire() as cycle, pool.acquire() as batch:
        cycle_tx = cycle.transaction()
        await cycle_tx.start()
        await cycle.execute("insert into repair_clock(id, watermark) values (1, $1) on conflict (id) do update set "
                            "planned_at = $1", T0)  # the cycle holds the clock
        batch_pid = batch.get_server_pid()

        async def run_batch() -> None:
            async with batch.transaction():
                evs = [inventory("aws/n1", pool="gpu-2"), health("aws/n2", 1)]
                await handlers.handle_batch(evs, [UnitOfWork(conn=batch, producer="node-repair", namespace="t")
                                                  for _ in evs])
        batching = asyncio.create_task(run_batch())
        for _ in range(200):  # until the batch waits on a lock (the clock's row)
            if await pool.fetchval("select wait_event_type = 'Lock' from pg_stat_activity where pid = $1",
                                   batch_pid):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the batch never waited for the cycle's clock")
        try:
            await asyncio.wait_for(cycle.execute("update repair_nodes set state = state where node_id = 'aws/n1'"),
                                   timeout=10)  # the cycle writes n1: free, since the batch waits before any node
        except asyncpg.DeadlockDetectedError:
            pytest.fail("the batch locked a node before the clock: deadlock with the planning cycle")
        await cycle_tx.commit()
        await asyncio.wait_for(batching, timeout=10)
    assert await pool.fetchval("select pool from repair_nodes where node_id = 'aws/n1'") == "gpu-2"
