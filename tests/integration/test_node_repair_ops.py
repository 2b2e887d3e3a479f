"""Node repair under ops control, on real Kafka and Postgres: `batchyard nodes pause|resume|force|exclude|why|list`
against the running service, and a lost heartbeat found by timeout and repaired on the simulated fleet."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
import yaml
from typer.testing import CliRunner

from cli.nodes import app as nodes_cli
from libs.events import NodeHealthReported
from libs.fleet import load_fleet
from libs.localinfra.processes import Platform
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from libs.platform.clock import SimClock
from tests.integration.test_node_repair_storm import RepairObserver

pytestmark = pytest.mark.integration
SICK, SHIELDED, FORCED, SILENT = (f"onprem-dc1/a100-{i:04d}" for i in (1, 5, 10, 14))


@pytest.fixture
async def quiet_platform(kafka_bootstrap, database_url, namespace, tmp_path):
    """The storm fleet without its storm: nothing fails unless the test says so."""
    spec = yaml.safe_load(Path("deploy/fleet/storm.yaml").read_text())
    spec["faults"]["storms"] = []
    fleet = tmp_path / "quiet.yaml"
    fleet.write_text(yaml.safe_dump(spec))
    await ensure_topics(kafka_bootstrap, namespace)
    p = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env={
        "BATCHYARD_TIME_SCALE": "600", "BATCHYARD_FLEET_SPEC": str(fleet)})
    p.start()
    yield p, load_fleet(fleet)
    p.stop()


async def nodes(database_url: str, *args: str) -> str:
    """Runs `batchyard nodes ARGS` as ops would; returns its output (fails the test on a non-zero exit)."""
    result = await asyncio.to_thread(CliRunner().invoke, nodes_cli, list(args),
                                     env={"BATCHYARD_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


async def wait_rows(database_url: str, query: str, predicate, timeout: float = 60) -> list:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                rows = await conn.fetch(query)
            except asyncpg.UndefinedTableError:  # the service has not migrated its schema yet
                rows = []
            if predicate(rows) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def sim_now(database_url: str):
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("select * from sim_fleet.clock where id = 1")
    finally:
        await conn.close()
    return SimClock(row["wall_start"], row["sim_start"], row["scale"]).sim_at(time.time())


def moved(o: RepairObserver, node: str, to: str, reason: str | None = None) -> bool:
    return any(t.node_id == node and t.to_state == to and (reason is None or t.reason == reason)
               for t in o.transitions)


async def test_ops_pause_force_exclude_and_a_lost_heartbeat(quiet_platform, kafka_bootstrap, namespace,
                                                            database_url):
    platform, fleet = quiet_platform
    rows = await wait_rows(database_url, "select node_id from node_repair.repair_nodes",
                           lambda r: len(r) == fleet.node_count)
    assert len(rows) == fleet.node_count, "node repair learned every node from the inventory"
    observer = await RepairObserver(kafka_bootstrap, namespace).start()

    # 1. paused: a GPU that fell off the bus waits as suspect; an excluded node is never cordoned
    assert "paused everywhere" in await nodes(database_url, "pause")
    assert "excluded" in await nodes(database_url, "exclude", SHIELDED)
    at = await sim_now(database_url)
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([NodeHealthReported(node_id=n, occurred_at=at, gpu=3, xid_codes=(79,))
                           for n in (SICK, SHIELDED)])
    assert await observer.wait_for(lambda o: moved(o, SICK, "suspect") and moved(o, SHIELDED, "suspect"),
                                   timeout=60)
    why = await nodes(database_url, "why", SICK)
    assert "repairs paused by ops everywhere" in why and "XID 79" in why, why
    listing = await nodes(database_url, "list")
    assert "repairs paused: everywhere" in listing and SICK in listing and SHIELDED in listing, listing

    # 2. forced past the pause: one repair, then back to healthy
    assert "repair forced" in await nodes(database_url, "force", FORCED)
    assert await observer.wait_for(lambda o: moved(o, FORCED, "cordoned", "ops_forced"), timeout=60)

    # 3. resumed: the waiting node goes out and is repaired; the excluded one still waits
    assert "resumed" in await nodes(database_url, "resume")
    assert await observer.wait_for(lambda o: moved(o, SICK, "healthy", "repair_succeeded")
                                   and moved(o, FORCED, "healthy", "repair_succeeded"), timeout=120)
    assert not moved(observer, SHIELDED, "cordoned")
    assert "excluded from automatic repair" in await nodes(database_url, "why", SHIELDED)

    # 4. a node agent goes silent: found by heartbeat timeout, rebooted, and heard from again
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("update sim_fleet.nodes set silent_until_wall = $2 where node_id = $1", SILENT,
                           time.time() + 3600)
    finally:
        await conn.close()
    assert await observer.wait_for(lambda o: moved(o, SILENT, "healthy", "repair_succeeded"), timeout=120)
    [cordon] = [t for t in observer.transitions if t.node_id == SILENT and t.to_state == "cordoned"]
    assert any("no heartbeat" in e for e in cordon.evidence.values()), cordon.evidence
    await observer.stop()
    platform.assert_alive()
