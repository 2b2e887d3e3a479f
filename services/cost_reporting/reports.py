"""Read side of the ledger for the CLI and tests: rows, rollups, CSV and reconciliation against the catalog."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import asyncpg

from libs.cost import Dim, Discrepancy, LedgerRow, PriceKey, PriceLookupError, reconcile
from services.cost_reporting import repository as repo
from services.cost_reporting.usage import node_spec

SCHEMA = "cost_reporting"


def day_range(day: date | None, since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """Returns the [from, to) UTC instants selected by --day, or --from / --to (whole days, inclusive)."""
    if day is not None:
        since = until = day
    lo = datetime.combine(since, time(), timezone.utc) if since else datetime.min.replace(tzinfo=timezone.utc)
    hi = datetime.combine(until + timedelta(days=1), time(), timezone.utc) if until else \
        datetime.max.replace(tzinfo=timezone.utc)
    return lo, hi


async def rows_between(conn: asyncpg.Connection, lo: datetime, hi: datetime) -> list[LedgerRow]:
    """Returns every ledger row of the node-hours in [lo, hi), in booking order."""
    records = await conn.fetch("select * from ledger where hour >= $1 and hour < $2 order by seq", lo, hi)
    return [repo.ledger_row(r) for r in records]


def parse_dims(text: str) -> list[Dim]:
    """Returns the dims of a comma list like ``team,day``; raises ValueError naming the bad one."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    valid = {d.value: d for d in Dim}
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise ValueError(f"unknown dimension {', '.join(bad) or '(none)'}; choose from {', '.join(valid)}")
    return [valid[n] for n in names]


async def discrepancies(conn: asyncpg.Connection) -> list[Discrepancy]:
    """Returns every node-hour whose ledger differs from node-hour × price; [] when the ledger reconciles.

    Expected node-hours: every booked one, plus every hour before ``closed_through`` of every present node. The
    ledger and the clock are read in one snapshot (repeatable read), or the closer could book an hour and close
    it between the two reads, and a reconcile run while cost reporting works would report that hour unbooked.
    """
    if conn.is_in_transaction():
        return await _discrepancies(conn)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _discrepancies(conn)


async def _discrepancies(conn: asyncpg.Connection) -> list[Discrepancy]:
    catalog = await repo.load_catalog(conn)
    nodes = {r["node_id"]: node_spec(r) for r in await conn.fetch("select * from nodes")}
    rows = [repo.ledger_row(r) for r in await conn.fetch("select * from ledger")]
    wanted = {r.node_hour for r in rows}
    closed = (await repo.clock(conn))["closed_through"]
    if closed is not None:
        present = await conn.fetch(
            "select n.node_id, h from nodes n, generate_series(date_trunc('hour', n.first_seen), $1::timestamptz - interval "
            "'1 hour', interval '1 hour') as h where n.removed_at is null or date_trunc('hour', n.removed_at) >= h",
            closed)
        wanted |= {(r["node_id"], r["h"]) for r in present}
    expected = {}
    for node, hour in wanted:
        spec = nodes[node]
        try:
            expected[(node, hour)] = catalog.price_at(PriceKey(spec.cluster, spec.pool, spec.instance_type),
                                                      hour).hourly
        except PriceLookupError:
            expected[(node, hour)] = 0
    return reconcile(rows, expected)
