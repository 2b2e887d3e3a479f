"""``batchyard cost``: the price catalog, reports and CSV export from the cost ledger (BATCHYARD_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import date, datetime
from pathlib import Path

import typer

from cli.common import CommandGroup, connect, fail
from cli.tables import print_table

NAME = "cost"
app = CommandGroup(help="Cost: price catalog, reports per org/team/queue/cluster/GPU model/day, CSV export.",
                   no_args_is_help=True, service="cost-reporting")
prices = CommandGroup(help="The versioned price catalog.", no_args_is_help=True, service="cost-reporting")
app.add_typer(prices, name="prices")

BY_HELP = "Comma list of: org, team, queue, cluster, pool, gpu_model, day, workload, node."


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date like 2026-11-24")


async def _connect():
    from services.cost_reporting.reports import SCHEMA
    return await connect(SCHEMA, "cost")


@prices.command("apply")
def prices_apply(path: Path = typer.Argument(..., help="A YAML price file (see docs/cost.md)."),
                 dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show, write nothing.")) -> None:
    """Add the file's prices as new catalog versions (all or nothing); the service books the corrections."""
    from services.cost_reporting.prices import PriceFileError, load_price_file

    try:
        prices_file = load_price_file(path)
    except PriceFileError as exc:
        fail(str(exc))
    for p in prices_file.prices:
        typer.echo(f"{p.cluster}/{p.pool}/{p.instance_type} from {p.effective_from.isoformat()}: "
                   f"{p.hourly_micros} micros/h ({p.model})")
    if dry_run:
        return
    added = asyncio.run(_apply(prices_file, f"file:{path.name}"))
    typer.echo(f"applied {len(added)} new price version(s)" + (f": revisions {added}" if added else ""))


async def _apply(prices_file, source: str) -> list[int]:
    from libs.platform import store
    from libs.platform.settings import Settings
    from services.cost_reporting.app import DEFINITION
    from services.cost_reporting.prices import apply_price_file
    from services.cost_reporting.reports import SCHEMA

    pool = await store.create_pool(Settings().database_url, SCHEMA, size=1)
    try:
        await store.migrate(pool, SCHEMA, DEFINITION.service_dir)  # the CLI may run before the service ever did
        async with pool.acquire() as conn:
            return await apply_price_file(conn, prices_file, source)
    finally:
        await pool.close()


@prices.command("list")
def prices_list() -> None:
    """Show every price version in force, oldest first per key."""
    async def run() -> None:
        from libs.cost import format_dollars
        from services.cost_reporting.repository import load_catalog
        conn = await _connect()
        try:
            typer.echo("CLUSTER/POOL/INSTANCE TYPE\tEFFECTIVE FROM\tHOURLY\tMODEL\tREVISION")
            for v in (await load_catalog(conn)).all_versions():
                k = v.key
                typer.echo(f"{k.cluster}/{k.pool}/{k.instance_type}\t{v.effective_from.isoformat()}\t"
                           f"{format_dollars(v.hourly)}/h\t{v.model.value}\trev {v.version_id}")
        finally:
            await conn.close()
    asyncio.run(run())


async def _rollup(by: str, day: str | None, since: str | None, until: str | None):
    from libs.cost import rollup
    from cli.reads import ledger_rows
    from services.cost_reporting.reports import day_range, parse_dims

    try:
        dims = parse_dims(by)
    except ValueError as exc:
        fail(str(exc))
    lo, hi = day_range(_day(day, "--day"), _day(since, "--from"), _day(until, "--to"))
    conn = await _connect()
    try:
        rows = await ledger_rows(conn, lo, hi)
    finally:
        await conn.close()
    return dims, rows, rollup(rows, dims)


@app.command()
def report(by: str = typer.Option("team", help=BY_HELP),
           day: str | None = typer.Option(None, help="One UTC day, e.g. 2026-11-24."),
           since: str | None = typer.Option(None, "--from", help="First UTC day (inclusive)."),
           until: str | None = typer.Option(None, "--to", help="Last UTC day (inclusive).")) -> None:
    """Print totals from the ledger grouped by the chosen dimensions (idle cost shows as '(idle)')."""
    from libs.cost import format_dollars

    dims, rows, totals = asyncio.run(_rollup(by, day, since, until))
    header = (" / ".join(d.value.upper() for d in dims), "AMOUNT_USD", "ROWS")
    print_table(header, [*((" / ".join(t.key), format_dollars(t.amount), t.rows) for t in totals),
                         ("total", format_dollars(sum(t.amount for t in totals)), len(rows))],
                right=header[1:])


@app.command()
def export(csv: Path = typer.Option(..., "--csv", help="Write CSV here (replaced atomically)."),
           by: str | None = typer.Option(None, help=f"Roll up first. {BY_HELP} Default: raw ledger rows."),
           day: str | None = typer.Option(None, help="One UTC day, e.g. 2026-11-24."),
           since: str | None = typer.Option(None, "--from", help="First UTC day (inclusive)."),
           until: str | None = typer.Option(None, "--to", help="Last UTC day (inclusive).")) -> None:
    """Export the ledger (or a rollup of it) as CSV with amount_usd and amount_micros columns."""
    from libs.cost import ledger_csv, rollup_csv

    if not csv.parent.is_dir():
        fail(f"directory {csv.parent} does not exist")
    dims, rows, totals = asyncio.run(_rollup(by or "node", day, since, until))
    text = rollup_csv(totals, dims) if by else ledger_csv(rows)
    _write_atomically(csv, text)
    typer.echo(f"wrote {len(totals) if by else len(rows)} row(s) to {csv}")


def _write_atomically(path: Path, text: str) -> None:
    """Writes a temp file beside ``path`` and renames it over, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("reconcile")
def reconcile_cmd() -> None:
    """Check that every node-hour's ledger equals node-hours × price; exit 1 listing each discrepancy."""
    async def run():
        from services.cost_reporting.reports import discrepancies
        conn = await _connect()
        try:
            return await discrepancies(conn)
        finally:
            await conn.close()
    problems = asyncio.run(run())
    for d in problems[:50]:
        typer.echo(d.message)
    if problems:
        fail(f"{len(problems)} node-hour(s) do not reconcile", code=1)
    typer.echo(f"ledger reconciles exactly ({datetime.now().astimezone().isoformat(timespec='seconds')})")
