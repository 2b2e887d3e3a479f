"""Quota's Postgres state for the core: workload rows ↔ the in-memory QuotaEngine, and the versioned config.

The engine is rebuilt from these rows at start-up and after a rolled-back transaction: reservations with
``engine.reserve``, pending workloads with ``add_workload`` (backoff restored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from libs.events import Tenant, WorkloadSpec
from libs.platform.store import columns
from libs.quota import QuotaEngine, Reason, Why
from libs.quota.loader import load_config
from services.quota.mapping import admission_from_json, admission_to_json, words, workload_of


@dataclass(frozen=True)
class Known:
    """What the service needs to emit events about a workload (kept from its WorkloadAccepted)."""

    tenant: Tenant
    spec: WorkloadSpec
    priority: int
    trace: dict
    excluded: tuple[str, ...]
    created_at: float
    failures: int = 0  # failed runs retried so far (WorkloadFailed not final); its next QuotaReserved says so


def known_of(row: Mapping[str, Any]) -> Known:
    """Returns the details of a workloads row (an asyncpg record, or a dict with the same columns)."""
    return Known(Tenant(org=row["org"], team=row["team"]), WorkloadSpec.model_validate_json(row["spec"]),
                 row["priority"], json.loads(row["trace"]), tuple(row["excluded"]), row["created_at"],
                 row["failures"])


async def latest_config(conn: asyncpg.Connection) -> tuple[int, str] | None:
    """Returns (version, yaml) of the config in force, if any was stored."""
    row = await conn.fetchrow("select version, yaml from quota_configs order by version desc limit 1")
    return (row["version"], row["yaml"]) if row else None


async def store_config(conn: asyncpg.Connection, text: str, source: str) -> int:
    """Stores a validated config as the newest version; returns the version."""
    return await conn.fetchval("insert into quota_configs(yaml, source) values ($1, $2) returning version",
                               text, source)


async def store_first_config(conn: asyncpg.Connection, text: str, source: str) -> None:
    """Stores ``text`` as version 1 unless a config is stored already (the table locked: one instance writes it)."""
    await conn.execute("lock table quota_configs in exclusive mode")
    if await latest_config(conn) is None:
        await store_config(conn, text, source)


async def config_version(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("select coalesce(max(version), 0) from quota_configs")


async def load_engine(conn: asyncpg.Connection, text: str, now: float) -> tuple[QuotaEngine, dict[str, Known]]:
    """Returns an engine under ``text`` holding every reserved and pending workload, and their details."""
    rows = await conn.fetch("select * from workloads where state in ('pending', 'reserved', 'inadmissible') "
                            "order by seq")
    return engine_of(text, rows, now)


def engine_of(text: str, rows: Iterable[Mapping[str, Any]], now: float) -> tuple[QuotaEngine, dict[str, Known]]:
    """Returns an engine under ``text`` holding the reserved and pending workloads ``rows`` (in arrival order)."""
    config = load_config(text)
    engine = QuotaEngine(config)
    known: dict[str, Known] = {}
    for row in rows:
        k = known[row["workload_id"]] = known_of(row)
        workload = workload_of(row["workload_id"], k.tenant.team, k.spec, k.priority, k.created_at, config,
                               k.excluded)
        if row["state"] == "reserved" and row["admission"] is not None:
            engine.reserve(workload, admission_from_json(json.loads(row["admission"])), row["reserved_at"] or now)
            if row["placed"]:
                engine.mark_placed(workload.id)
        else:
            engine.add_workload(workload, now)
            _restore_backoff(engine, workload.id, row["requeue_at"], row["attempts"], now)
    return engine, known


def _restore_backoff(engine: QuotaEngine, workload_id: str, requeue_at: float, attempts: int, now: float) -> None:
    """Puts a rebuilt pending workload back in backoff (the core has no public call for this)."""
    if attempts:
        engine.attempts[workload_id] = attempts
    cq = engine._pending_at.get(workload_id)  # noqa: SLF001 - restoring state the core itself wrote
    if not cq or requeue_at <= now:
        return
    entry = engine.pending[cq].entries[workload_id]
    entry.requeue_at, entry.attempts = requeue_at, attempts
    engine.pending[cq].push(entry, now)


@dataclass(frozen=True)
class NewWorkload:
    """An accepted workload as quota first stores it: pending, in the cluster queue its local queue names."""

    workload_id: str
    tenant: Tenant
    local_queue: str
    cluster_queue: str | None
    priority: int
    spec: WorkloadSpec
    created_at: float
    trace: str  # the W3C context of its acceptance, as JSON: later events about it continue that trace


async def insert_workloads(conn: asyncpg.Connection, workloads: list[NewWorkload]) -> set[str]:
    """Inserts newly accepted workloads as pending, in their order, in one statement (a poll batch's run of
    acceptances was one round trip each); returns the ids that were new. One already stored (a redelivered or
    resubmitted workload) is not; of two copies in ``workloads`` only the first is stored."""
    firsts: dict[str, NewWorkload] = {}
    for workload in workloads:
        firsts.setdefault(workload.workload_id, workload)
    first = list(firsts.values())
    rows = await conn.fetch(
        "insert into workloads(workload_id, org, team, local_queue, cluster_queue, priority, spec, requests, state, "
        "trace, created_at) select w, o, t, q, c, p, s::jsonb, '{}'::jsonb, 'pending', x::jsonb, a "
        "from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], "
        "$9::float8[]) with ordinality as u(w, o, t, q, c, p, s, x, a, n) order by n "
        "on conflict do nothing returning workload_id",
        [w.workload_id for w in first], [w.tenant.org for w in first], [w.tenant.team for w in first],
        [w.local_queue for w in first], [w.cluster_queue for w in first], [w.priority for w in first],
        [w.spec.model_dump_json() for w in first], [w.trace for w in first], [w.created_at for w in first])
    return {row["workload_id"] for row in rows}


async def mark_placed(conn: asyncpg.Connection, workload_ids: list[str]) -> None:
    """Notes that the scheduler placed every pod of these reserved workloads (their waitForPodsReady clocks stop),
    in one statement for a poll batch's run of placements."""
    await conn.execute("update workloads set placed = true where workload_id = any($1::text[])", workload_ids)


async def workload_state(conn: asyncpg.Connection, workload_id: str) -> str | None:
    """Returns the workload's row state (pending, reserved, finished, suspended...), None if quota never saw it."""
    return await conn.fetchval("select state from workloads where workload_id = $1", workload_id)


async def remember_cancelled(conn: asyncpg.Connection, workload_id: str, at, had: str | None) -> bool:
    """Records that ``workload_id`` was cancelled; False if it was already (this cancellation was handled)."""
    return bool(await conn.fetchval("insert into cancelled_workloads(workload_id, cancelled_at, had) "
                                    "values ($1, $2, $3) on conflict do nothing returning true", workload_id, at, had))


async def was_cancelled(conn: asyncpg.Connection, workload_id: str) -> bool:
    return bool(await conn.fetchval("select true from cancelled_workloads where workload_id = $1", workload_id))


async def cancelled_among(conn: asyncpg.Connection, workload_ids: list[str]) -> set[str]:
    """Returns which of ``workload_ids`` were cancelled, in one statement for a poll batch's run."""
    rows = await conn.fetch("select workload_id from cancelled_workloads where workload_id = any($1::text[])",
                            workload_ids)
    return {row["workload_id"] for row in rows}


async def set_priority(conn: asyncpg.Connection, workload_id: str, priority: int) -> bool:
    """Stores a workload's new priority (pending, reserved or suspended: a resume queues it with it); False for a
    workload quota does not hold (never seen, or finished)."""
    return bool(await conn.fetchval("update workloads set priority = $2, updated_at = now() where workload_id = $1 "
                                    "and state <> 'finished' returning true", workload_id, priority))


async def count_failure(conn: asyncpg.Connection, workload_id: str, attempt: int) -> bool:
    """Records that the workload's ``attempt``-th failed run is retried; False if it was counted already, or the
    workload is no longer quota's (finished or cancelled)."""
    return bool(await conn.fetchval("update workloads set failures = $2, updated_at = now() where workload_id = $1 "
                                    "and failures < $2 and state <> 'finished' returning true", workload_id, attempt))


async def exclude_flavor(conn: asyncpg.Connection, workload_id: str, flavor: str) -> None:
    await conn.execute("update workloads set excluded = array_append(excluded, $2) where workload_id = $1 "
                       "and not ($2 = any(excluded))", workload_id, flavor)


async def persist(conn: asyncpg.Connection, engine: QuotaEngine, ids: set[str], now: float,
                  whys: dict[str, Why]) -> None:
    """Writes the engine's current state of ``ids`` (reserved, pending with its reason, or finished), one
    statement per state over arrays of rows: a freed cohort can touch every workload pending in it, and an
    executemany still runs one statement per row on the server."""
    reserved, pending, finished = [], [], []
    for wid in sorted(ids):
        where = engine.where(wid)
        (reserved if where == "reserved" else pending if where == "pending" else finished).append(wid)
    if reserved:
        await conn.execute(RESERVED_UPDATE, *columns(reserved_row(engine, wid) for wid in reserved))
    if pending:
        infos = engine.pending_infos(pending, now)
        await conn.execute(PENDING_UPDATE, *columns(pending_row(engine, wid, infos.get(wid), whys.get(wid), now)
                                                    for wid in pending))
    if finished:
        await conn.execute("update workloads set state = 'finished', admission = null, position = null, "
                           "updated_at = now() where workload_id = any($1::text[]) and state <> 'finished'",
                           finished)


RESERVED_UPDATE = ("update workloads set state = 'reserved', cluster_queue = u.cq, admission = u.admission::jsonb, "
                   "reserved_at = u.reserved_at, placed = u.placed, flavor = u.flavor, pending_reason = null, "
                   "pending_message = null, position = null, updated_at = now() "
                   "from unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::bool[], $6::text[]) "
                   "as u(wid, cq, admission, reserved_at, placed, flavor) where workloads.workload_id = u.wid")


def reserved_row(engine: QuotaEngine, wid: str) -> tuple:
    """Returns the RESERVED_UPDATE row of a reserved workload."""
    r = engine.reservations[wid]
    return (wid, r.admission.cluster_queue, json.dumps(admission_to_json(r.admission)), r.reserved_at, r.placed,
            next(iter(r.admission.node_labels), None))


PENDING_UPDATE = ("update workloads set state = 'pending', admission = null, placed = false, "
                  "cluster_queue = coalesce(u.cq, workloads.cluster_queue), requeue_at = u.requeue_at, "
                  "attempts = u.attempts, pending_reason = u.reason, pending_message = u.message, "
                  "position = u.position, updated_at = now() "
                  "from unnest($1::text[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::text[], $7::int[]) "
                  "as u(wid, cq, requeue_at, attempts, reason, message, position) where workloads.workload_id = u.wid")


def pending_row(engine: QuotaEngine, wid: str, info, why: Why | None, now: float) -> tuple:
    """Returns the PENDING_UPDATE row of a pending workload whose ``pending_info`` is ``info``."""
    entry = engine.pending_entry(wid) if info is not None and info.cluster_queue else None  # routed only
    if entry is not None and entry.requeue_at > now:
        base = entry.why.message if entry.why else "requeued"
        why = Why(Reason.BACKOFF, f"in backoff until t={entry.requeue_at:.15g} ({base})")
    elif why is None:
        why = (entry.why if entry is not None else None) or (Why(info.reason, info.message) if info
                                                              else Why(Reason.QUEUED, "queued"))
    return (wid, info.cluster_queue if info else None, entry.requeue_at if entry else 0.0,
            engine.attempts.get(wid, 0), why.reason.value, words(why, now), info.position if info else None)
