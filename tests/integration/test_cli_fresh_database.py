"""The CLI on a real PostgreSQL where no service has run yet, and after quota stored its config: every command
says what is missing in one line with a non-zero exit, and tables have a header row."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from cli.main import app
from libs.platform import store

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]


async def cli(database_url: str, *args: str):
    """Runs ``batchyard ARGS`` (in a thread: the command runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"BATCHYARD_DATABASE_URL": database_url})


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code and (result.exception is None or isinstance(result.exception, SystemExit)), \
        (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("args, service", [
    pytest.param(("queues", "list"), "quota", id="queues-list"),
    pytest.param(("queues", "pending"), "quota", id="queues-pending"),
    pytest.param(("nodes", "list"), "node-repair", id="nodes-list"),
    pytest.param(("cost", "report"), "cost-reporting", id="cost-report"),
    pytest.param(("audit", "list"), "admission", id="audit-list"),
    pytest.param(("workloads", "list"), "quota", id="workloads-list"),
    pytest.param(("workloads", "describe", "w1"), "quota", id="workloads-describe"),
])
async def test_before_any_service_ran_the_cli_says_who_creates_the_tables(database_url, args, service):
    line = one_error_line(await cli(database_url, *args), code=1)
    assert f"{service} has not created its tables in this database yet" in line
    assert f"batchyard run {service}" in line


async def test_pending_names_an_unknown_queue_and_lists_the_real_ones(database_url):
    await migrate(database_url, "quota", "services/quota")
    applied = await cli(database_url, "queues", "apply", str(REPO / "deploy" / "quota" / "demo.yaml"))
    assert applied.exit_code == 0, applied.output
    line = one_error_line(await cli(database_url, "queues", "pending", "--queue", "nosuch"), code=2)
    assert "no such queue 'nosuch'" in line and "acme-nlp" in line and "default" in line
    for queue in ("acme-nlp", "default"):  # a cluster queue and a local queue
        known = await cli(database_url, "queues", "pending", "--queue", queue)
        assert known.exit_code == 0 and known.output == f"no pending workloads in {queue}\n", known.output
    listing = await cli(database_url, "queues", "list")
    assert listing.exit_code == 0 and listing.output.splitlines()[1].split()[:2] == ["CLUSTER", "QUEUE"]


async def test_nodes_list_has_a_header_row(database_url):
    await migrate(database_url, "node_repair", "services/node_repair")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("insert into node_repair.repair_nodes(node_id, pool, domain, state, deferred) values "
                           "('onprem-dc1/a100-0003', 'a100', 'rack-1', 'cordoned', '')")
    finally:
        await conn.close()
    listing = await cli(database_url, "nodes", "list")
    assert listing.exit_code == 0, listing.output
    header, row = listing.output.splitlines()
    assert header.split() == ["NODE", "POOL", "STATE", "ACTION", "NOTES"] and row.split()[:3] == [
        "onprem-dc1/a100-0003", "a100", "cordoned"]


async def migrate(database_url: str, schema: str, service_dir: str) -> None:
    """Creates one service's tables as its start-up would."""
    pool = await store.create_pool(database_url, schema, size=1)
    try:
        await store.migrate(pool, schema, REPO / service_dir)
    finally:
        await pool.close()


async def test_workloads_name_the_service_whose_tables_are_still_missing(database_url):
    await migrate(database_url, "quota", "services/quota")
    await migrate(database_url, "admission", "services/admission")
    line = one_error_line(await cli(database_url, "workloads", "list"), code=1)
    assert "cost-reporting has not created its tables" in line and "batchyard run cost-reporting" in line
    await migrate(database_url, "cost_reporting", "services/cost_reporting")
    listing = await cli(database_url, "workloads", "list", "--state", "pending")
    assert listing.exit_code == 0 and listing.output == "no workloads match\n", listing.output
