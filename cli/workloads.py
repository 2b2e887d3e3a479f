"""``batchyard workloads``: list workloads and describe one, the way a team looks at its jobs (docs/workloads.md).

    batchyard workloads list --team nlp [--org acme] [--queue Q] [--state pending|running|suspended|finished|refused] [--watch]
    batchyard workloads describe WORKLOAD

Reads the services' own schemas through libs/readmodel (BATCHYARD_DATABASE_URL); with BATCHYARD_TOKEN a team sees
only its own workloads (row-level security), as every read command.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Optional

import typer

from cli.common import CommandGroup, connect, fail

NAME = "workloads"
app = CommandGroup(help="Workloads: list them with their state, queue position and cost; describe one's timeline.",
                   no_args_is_help=True, service="quota")


async def _read(fn, *args):
    """Runs ``fn(conn, *args)`` on a connection reading as the caller; a service's missing tables fail in one line."""
    from libs.readmodel import NotReady
    conn = await connect("quota", "workloads")
    try:
        return await fn(conn, *args)
    except NotReady as exc:
        fail(f"{exc.service} has not created its tables in this database yet; start it once "
             f"(batchyard run {exc.service}) and retry ({exc.table} is missing)", code=1)
    finally:
        await conn.close()


def _filter(team, org, queue, state):
    from libs.readmodel import STATES, WorkloadFilter
    if state is not None and state not in STATES:
        fail(f"--state {state!r} is not one of: {', '.join(STATES)}")
    return WorkloadFilter(team=team, org=org, queue=queue, state=state)


@app.command("list")
def list_(team: Optional[str] = typer.Option(None, help="Only this team's workloads."),
          org: Optional[str] = typer.Option(None, help="Only this org's workloads."),
          queue: Optional[str] = typer.Option(None, help="Only this local queue or cluster queue."),
          state: Optional[str] = typer.Option(None, help="pending, running, finished or refused."),
          watch: bool = typer.Option(False, "--watch", help="Keep redrawing as things change (a pipe gets one "
                                     "plain line per change); Ctrl-C ends it."),
          interval: float = typer.Option(2.0, min=0.2, max=300, help="Seconds between reads with --watch.")) -> None:
    """Workloads newest first: id, name, kind, team, queue, state, priority, flavor/cluster, position while
    pending, age and cost so far."""
    from cli.workloads_view import console, table
    from libs.readmodel import list_workloads
    where = _filter(team, org, queue, state)
    if watch:
        from cli.workloads_watch import watch as run_watch
        run_watch(lambda: asyncio.run(_read(list_workloads, where)), console(), interval)
        return
    rows = asyncio.run(_read(list_workloads, where))
    if not rows:
        typer.echo("no workloads match")
        return
    console().print(table(rows))


@app.command("describe")
def describe(workload: str = typer.Argument(..., help="A workload id.")) -> None:
    """A workload's whole timeline: admission's verdict, quota's reservation, placement, evictions, cancellation,
    end, cost so far and trace id; while pending, why it waits now and who holds it."""
    from cli.workloads_view import describe_lines
    from libs.readmodel import describe_workload
    detail = asyncio.run(_read(describe_workload, workload))
    if detail is None:
        fail(f"no such workload {workload!r} (or not yours to see)", code=1)
    for line in describe_lines(detail, datetime.now(UTC)):
        typer.echo(line)
