"""``batchyard nodes``: what node repair is doing and why, and the ops overrides.

    batchyard nodes list [--all] [--state draining] [--pool a100]
    batchyard nodes why onprem-dc1/a100-0003
    batchyard nodes pause [--pool a100]      batchyard nodes resume [--pool a100]
    batchyard nodes force onprem-dc1/a100-0003
    batchyard nodes exclude onprem-dc1/a100-0003 [--remove]

Reads and writes node-repair's Postgres schema (BATCHYARD_DATABASE_URL); the running service picks
overrides up at its next planning cycle.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import Optional

import typer

from cli.common import CommandGroup, connect
from cli.tables import print_table

NAME = "nodes"
app = CommandGroup(help="Node repair: states, reasons, and ops overrides (pause, force, exclude).",
                   no_args_is_help=True, service="node-repair")


async def _with_conn(fn, *args, **kwargs):
    conn = await connect("node_repair", "node-repair")
    try:
        return await fn(conn, *args, **kwargs)
    finally:
        await conn.close()


def _run(fn, *args, **kwargs):
    return asyncio.run(_with_conn(fn, *args, **kwargs))


def _ops():
    from services.node_repair import ops
    return ops


async def _listing(conn, **filters):
    from cli.reads import node_listing
    return await node_listing(conn, **filters)


@app.command("list")
def list_(state: Optional[str] = typer.Option(None, help="Only nodes in this state."),
          pool: Optional[str] = typer.Option(None, help="Only this pool."),
          all_nodes: bool = typer.Option(False, "--all", help="Include healthy nodes with nothing pending."),
          as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List nodes that are suspect, out, retired or waiting for a repair, with the reason."""
    rows, paused = _run(_listing, state=state, pool=pool, all_nodes=all_nodes)
    if paused and not as_json:
        typer.echo("repairs paused: " + ", ".join("everywhere" if s == "*" else f"pool {s}" for s in paused))
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r, default=str))
        return
    if not rows:
        typer.echo("every node is healthy")
        return
    print_table(("NODE", "POOL", "STATE", "ACTION", "NOTES"), [
        (r["node_id"], r["pool"], r["state"], r["action"] or "none", "; ".join(
            n for n in ("excluded" if r["excluded"] else "", "forced" if r["forced"] else "",
                        f"waiting: {r['deferred']}" if r["deferred"] else "") if n)) for r in rows])


@app.command()
def why(node: str = typer.Argument(..., help="A node id, e.g. onprem-dc1/a100-0003."),
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Explain a node: its state, the latest diagnosis, why a repair waits, and its recent transitions."""
    info = _run(_ops().why, node)
    if info is None:
        typer.echo(f"unknown node {node}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(info, default=str))
        return
    typer.echo(f"{node} (pool {info['pool']}, {info['domain']}): {info['state']}, action {info['action']}")
    typer.echo(f"  diagnosis: {info['diagnosis'] or 'none yet'}")
    if info["deferred"]:
        typer.echo(f"  waiting: {info['deferred']}")
    for flag in ("excluded", "forced"):
        if info[flag]:
            typer.echo(f"  {flag} by ops")
    for t in info["transitions"]:
        evidence = "; ".join(t["evidence"])
        typer.echo(f"  {t['at']}  {t['from']} -> {t['to']} ({t['reason']}, {t['action']})"
                   + (f": {evidence}" if evidence else ""))


@app.command()
def pause(pool: Optional[str] = typer.Option(None, help="Pause only this pool.")) -> None:
    """Stop starting new repairs (drains and repairs under way finish)."""
    _run(_ops().pause, pool, getpass.getuser())
    typer.echo(f"repairs paused {'in pool ' + pool if pool else 'everywhere'}")


@app.command()
def resume(pool: Optional[str] = typer.Option(None, help="Resume only this pool.")) -> None:
    """Lift a pause."""
    lifted = _run(_ops().resume, pool)
    typer.echo(("resumed " if lifted else "was not paused ") + (f"in pool {pool}" if pool else "everywhere"))


@app.command()
def force(node: str = typer.Argument(...)) -> None:
    """Repair this node now (at least a reboot), past pauses, rate limits and budgets. One-shot."""
    if not _run(_ops().force, node):
        typer.echo(f"unknown node {node}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{node}: repair forced")


@app.command()
def exclude(node: str = typer.Argument(...),
            remove: bool = typer.Option(False, "--remove", help="Let node repair act on it again.")) -> None:
    """Never cordon this node automatically (its wanted repairs are shown as waiting)."""
    if not _run(_ops().exclude, node, remove=remove):
        typer.echo(f"unknown node {node}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{node}: {'no longer excluded' if remove else 'excluded from automatic repair'}")
