"""Postgres access for cost reporting: nodes, the price catalog, facts, allocations, the ledger and the clock."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from libs.cost import IDLE, LedgerRow, NodeHour, NodeSpec, PriceCatalog, PriceKey, PriceVersion, PricingModel, RowKind
from libs.platform.store import columns
from services.cost_reporting.usage import Allocation, Fact, node_spec

LEDGER_LOCK = 0x636F7374  # every transaction that writes the ledger holds this advisory lock ("cost")


async def lock_ledger(conn: asyncpg.Connection) -> None:
    """Serialises ledger writers (handlers, the closer, every replica) until the transaction ends."""
    await conn.execute("select pg_advisory_xact_lock($1)", LEDGER_LOCK)


async def clock(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow("select * from clock where id = 1")


async def advance_event_time(conn: asyncpg.Connection, at: datetime) -> None:
    await conn.execute("update clock set event_time = greatest(coalesce(event_time, $1), $1) where id = 1", at)


async def node_specs(conn: asyncpg.Connection, node_ids: Iterable[str]) -> dict[str, NodeSpec]:
    rows = await conn.fetch("select * from nodes where node_id = any($1::text[])", sorted(set(node_ids)))
    return {r["node_id"]: node_spec(r) for r in rows}


async def load_catalog(conn: asyncpg.Connection) -> PriceCatalog:
    """Returns every price version; of two versions of a key at one instant, the later-recorded wins."""
    rows = await conn.fetch(
        "select distinct on (cluster, pool, instance_type, effective_from) * from price_versions "
        "order by cluster, pool, instance_type, effective_from, revision desc")
    return PriceCatalog.of(PriceVersion(
        key=PriceKey(r["cluster"], r["pool"], r["instance_type"]), effective_from=r["effective_from"],
        hourly=r["hourly_micros"], model=PricingModel(r["model"]), version_id=str(r["revision"])) for r in rows)


async def insert_price(conn: asyncpg.Connection, key: PriceKey, effective_from: datetime, hourly: int,
                       model: str, source: str) -> int:
    return await conn.fetchval(
        "insert into price_versions(cluster, pool, instance_type, effective_from, hourly_micros, model, source) "
        "values ($1,$2,$3,$4,$5,$6,$7) returning revision", key.cluster, key.pool, key.instance_type,
        effective_from, hourly, model, source)


async def insert_traces(conn: asyncpg.Connection, traces: list[tuple[str, str]]) -> None:
    """Keeps each workload's first trace context (workload id, JSON), for the accruals booked later."""
    await conn.execute("insert into workload_traces(workload_id, trace) select w, t::jsonb from "
                       "unnest($1::text[], $2::text[]) as k(w, t) on conflict do nothing",
                       [w for w, _ in traces], [t for _, t in traces])


async def insert_facts(conn: asyncpg.Connection, facts: list[tuple[str, Fact]]) -> set[str]:
    """Records (workload id, fact) pairs; returns the event ids not recorded before (a redelivery, or a second
    copy in the same list, is not new)."""
    unique = list({f.event_id: (w, f) for w, f in facts}.values())
    rows = await conn.fetch(
        "insert into workload_facts(event_id, workload_id, kind, occurred_at, org, team, queue, allocations) "
        "select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], "
        "$7::text[], $8::jsonb[]) on conflict do nothing returning event_id",
        [f.event_id for _, f in unique], [w for w, _ in unique], [f.kind for _, f in unique],
        [f.occurred_at for _, f in unique], [f.org for _, f in unique], [f.team for _, f in unique],
        [f.queue for _, f in unique],
        [json.dumps(list(f.allocations)) if f.allocations else None for _, f in unique])
    return {str(r["event_id"]) for r in rows}


async def facts_of(conn: asyncpg.Connection, workload_ids: list[str]) -> dict[str, list[Fact]]:
    """Returns workload id → every fact recorded of it."""
    rows = await conn.fetch("select * from workload_facts where workload_id = any($1::text[])", workload_ids)
    out: dict[str, list[Fact]] = defaultdict(list)
    for r in rows:
        out[r["workload_id"]].append(Fact(str(r["event_id"]), r["kind"], r["occurred_at"], r["org"], r["team"],
                                          r["queue"], tuple(json.loads(r["allocations"])) if r["allocations"]
                                          else ()))
    return out


def _allocation(r) -> Allocation:
    return Allocation(r["allocation_id"], r["workload_id"], r["node_id"], r["start_at"], r["end_at"],
                      r["cpu_milli"], r["memory_mib"], r["gpu_milli"], r["org"], r["team"], r["queue"],
                      str(r["source_event"]))


async def allocations_of(conn: asyncpg.Connection, workload_ids: list[str]) -> dict[str, dict[str, Allocation]]:
    """Returns workload id → allocation id → its allocation as booked."""
    rows = await conn.fetch("select * from allocations where workload_id = any($1::text[])", workload_ids)
    out: dict[str, dict[str, Allocation]] = defaultdict(dict)
    for r in rows:
        out[r["workload_id"]][r["allocation_id"]] = _allocation(r)
    return out


async def replace_allocations(conn: asyncpg.Connection, removed: Iterable[str], added: Iterable[Allocation]) -> None:
    await conn.execute("delete from allocations where allocation_id = any($1::text[])", list(removed))
    added = list(added)
    if not added:
        return
    await conn.execute(
        "insert into allocations(allocation_id, workload_id, node_id, start_at, end_at, cpu_milli, memory_mib, "
        "gpu_milli, org, team, queue, source_event) select * from unnest($1::text[], $2::text[], $3::text[], "
        "$4::timestamptz[], $5::timestamptz[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], "
        "$11::text[], $12::uuid[])",
        *columns([(a.allocation_id, a.workload_id, a.node_id, a.start, a.end, a.cpu_milli, a.memory_mib,
                   a.gpu_milli, a.org, a.team, a.queue, a.source_event) for a in added], 12))


async def allocations_on(conn: asyncpg.Connection, node_ids: list[str], lo: datetime,
                         hi: datetime) -> dict[str, list[Allocation]]:
    """Returns node → allocations that may overlap [lo, hi) (open ones included), by allocation id."""
    rows = await conn.fetch(
        "select * from allocations where node_id = any($1::text[]) and start_at < $3 "
        "and (end_at is null or end_at > $2) order by allocation_id", node_ids, lo, hi)
    out: dict[str, list[Allocation]] = defaultdict(list)
    for r in rows:
        out[r["node_id"]].append(_allocation(r))
    return out


def ledger_row(r) -> LedgerRow:
    return LedgerRow(row_id=r["row_id"], node=r["node_id"], hour=r["hour"], party=r["party"],
                     amount=r["amount_micros"], source_event_id=r["source_event"], kind=RowKind(r["kind"]),
                     cluster=r["cluster"], pool=r["pool"], instance_type=r["instance_type"],
                     gpu_model=r["gpu_model"], org=r["org"], team=r["team"], queue=r["queue"],
                     price_version_id=r["price_version"])


async def ledger_rows(conn: asyncpg.Connection, node_hours: list[NodeHour]) -> dict[NodeHour, list[LedgerRow]]:
    """Returns the booked rows of each node-hour, in booking order."""
    rows = await conn.fetch(
        "select l.* from ledger l join unnest($1::text[], $2::timestamptz[]) as k(node_id, hour) "
        "on l.node_id = k.node_id and l.hour = k.hour order by l.seq",
        [n for n, _ in node_hours], [h for _, h in node_hours])
    out: dict[NodeHour, list[LedgerRow]] = defaultdict(list)
    for r in rows:
        out[(r["node_id"], r["hour"])].append(ledger_row(r))
    return out


async def insert_rows(conn: asyncpg.Connection, rows: list[LedgerRow]) -> None:
    if not rows:
        return
    await conn.execute(  # numbered (seq) in booking order: delta_rows reads a node-hour's rows in that order
        "insert into ledger(row_id, node_id, hour, party, workload_id, amount_micros, kind, source_event, cluster, "
        "pool, instance_type, gpu_model, org, team, queue, price_version) "
        "select r, n, h, p, w, a, k, s, c, pl, it, g, o, t, q, pv from unnest($1::text[], $2::text[], "
        "$3::timestamptz[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], "
        "$11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) with ordinality "
        "as u(r, n, h, p, w, a, k, s, c, pl, it, g, o, t, q, pv, i) order by i",
        *columns([(r.row_id, r.node, r.hour, r.party, None if r.party == IDLE else r.party, r.amount, r.kind.value,
                   r.source_event_id, r.cluster, r.pool, r.instance_type, r.gpu_model, r.org, r.team, r.queue,
                   r.price_version_id) for r in rows], 16))
    days = sorted({r.hour.date() for r in rows})
    await conn.execute("insert into rollup_days(day, dirty) select d, true from unnest($1::date[]) as d "
                       "on conflict (day) do update set dirty = true", days)


async def mark_pending(conn: asyncpg.Connection, node_hours: list[NodeHour], priced: list[NodeHour]) -> None:
    await conn.execute("insert into pending_node_hours(node_id, hour) select * from "
                       "unnest($1::text[], $2::timestamptz[]) on conflict do nothing",
                       [n for n, _ in node_hours], [h for _, h in node_hours])
    await conn.execute("delete from pending_node_hours u using unnest($1::text[], $2::timestamptz[]) as k(n, h) "
                       "where u.node_id = k.n and u.hour = k.h", [n for n, _ in priced], [h for _, h in priced])


async def workload_traces(conn: asyncpg.Connection, workload_ids: set[str]) -> dict[str, dict[str, str]]:
    """Returns the stored trace context of each workload (those without one are left out)."""
    if not workload_ids:
        return {}
    rows = await conn.fetch("select workload_id, trace from workload_traces where workload_id = any($1::text[])",
                            sorted(workload_ids))
    return {r["workload_id"]: json.loads(r["trace"]) for r in rows}
