"""``batchyard queues``: apply the Kueue-shaped quota config; see usage, pending workloads and why they wait.

Reads and writes the quota service's Postgres schema (BATCHYARD_DATABASE_URL); the running service
picks up an applied config within a second, keeping every reservation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer

from cli.common import CommandGroup, connect, fail, read_text
from cli.tables import print_table
from libs.quota.explain import ordinal

NAME = "queues"
app = CommandGroup(help="Quota: flavors, cohorts, cluster and local queues; usage, pending, why.", no_args_is_help=True,
                   service="quota")


async def _connect():
    return await connect("quota", "quota")


def _run(fn, *args):
    async def main():
        conn = await _connect()
        try:
            return await fn(conn, *args)
        finally:
            await conn.close()
    return asyncio.run(main())


@app.command("apply")
def apply(path: Path = typer.Argument(..., help="Kueue-shaped YAML (see deploy/quota/example.yaml)."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Validate only.")) -> None:
    """Validate the file, then store it as the new config version (a bad file changes nothing)."""
    from libs.quota.loader import ConfigError, load_config
    text = read_text(path, "quota config")
    try:
        config = load_config(text)
    except ConfigError as exc:
        fail(f"{path}: nothing applied; " + str(exc))
    if not config.cluster_queues:  # applied, it would leave every workload without a queue
        fail(f"{path}: nothing applied; it defines no ClusterQueue")
    typer.echo(f"{path}: {len(config.flavors)} flavors, {len(config.cohorts)} cohorts, "
               f"{len(config.cluster_queues)} cluster queues, {len(config.local_queues)} local queues: valid")
    if dry_run:
        return

    async def store(conn):
        from services.quota.state import store_config
        return await store_config(conn, text, str(path))
    version = _run(store)
    typer.echo(f"applied as version {version}; the quota service reloads it within a second")


async def _usage(conn):
    from cli.reads import queue_usage
    return await queue_usage(conn)


@app.command("list")
def list_() -> None:
    """Usage vs nominal quota per cluster queue, flavor and resource."""
    from libs.quota import format_quantity
    version, rows = _run(_usage)
    typer.echo(f"config version {version}")
    print_table(("CLUSTER QUEUE", "FLAVOR", "RESOURCE", "USED", "NOMINAL", "%", "PENDING"), [
        (cq, flavor, resource, format_quantity(resource, used), format_quantity(resource, nominal),
         f"{100 * used / nominal:.0f}" if nominal else "-", pending)
        for cq, flavor, resource, used, nominal, pending in rows], right=("USED", "NOMINAL", "%", "PENDING"))


async def _pending(conn, queue: str | None):
    from cli.reads import pending_workloads
    return await pending_workloads(conn, queue)


@app.command("pending")
def pending(queue: Optional[str] = typer.Option(None, "--queue", help="A cluster queue or local queue name.")) -> None:
    """Pending workloads in queue order, with why each waits."""
    rows = _run(_pending, queue)
    if not rows:
        typer.echo("no pending workloads" + (f" in {queue}" if queue else ""))
        return
    print_table(("QUEUE#POSITION", "WORKLOAD", "PRIORITY", "WHY"), [
        (f"{r['cluster_queue']}#{r['pos']}" if r["cluster_queue"] else f"{r['team']}/{r['local_queue']}",
         r["workload_id"], r["priority"],
         f"{r['pending_reason'] or 'Queued'}: {r['pending_message'] or 'not yet considered'}") for r in rows],
        right=("PRIORITY",))


async def _why(conn, workload_id: str):
    from cli.reads import workload_standing
    return await workload_standing(conn, workload_id)


@app.command("why")
def why(workload: str = typer.Argument(..., help="A workload id.")) -> None:
    """Where a workload stands: its position in its queue and why it waits, in words."""
    row, pos = _run(_why, workload)
    if row is None:
        fail(f"quota has not seen workload {workload}", code=1)
    if row["state"] != "pending":
        flavor = f" in flavor {row['flavor']}" if row["state"] == "reserved" and row["flavor"] else ""
        typer.echo(f"{workload}: {row['state']}{flavor} (cluster queue {row['cluster_queue']})")
        return
    where = f"{ordinal(pos)} in {row['cluster_queue']}" if row["cluster_queue"] else \
        f"not routed ({row['team']}/{row['local_queue']})"
    typer.echo(f"{workload}: pending, {where}; {row['pending_reason'] or 'Queued'}: "
               f"{row['pending_message'] or 'not yet considered'}")


