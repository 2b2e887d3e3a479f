"""Postgres access for the Kubernetes connector: workloads (one per job object) and nodes."""

from __future__ import annotations

import json
from typing import NamedTuple

import asyncpg

from libs.platform.store import columns
from services.kube_connector.rows import Rows, WorkloadRow
from services.kube_connector.status import Change, advance, notice

ACTIVE = ("placed", "running", "evicting")
ENDED = ("refused", "invalid", "succeeded", "failed", "deleted")


def new_workload(*, workload_id: str, kind: str, meta: dict, org: str | None, team: str | None, templates: dict,
                 pod_count: int, phase: str, change: Change, now: str, trace: str) -> tuple:
    """Returns the row of a newly seen object, as ``insert_workloads`` takes it."""
    status = advance({}, change, now=now, workload_id=workload_id)
    return (workload_id, kind, meta["namespace"], meta["name"], meta["uid"], org, team, json.dumps(templates),
            pod_count, phase, json.dumps(status), json.dumps([notice(change)]), trace)


async def insert_workloads(conn: asyncpg.Connection, rows: list[tuple]) -> set[str]:
    """Records newly seen objects (rows of ``new_workload``) in one statement; returns the workload ids that were
    new (an object already known, after a relist or a restart, is left as it is)."""
    if not rows:
        return set()
    records = await conn.fetch(
        "insert into workloads(workload_id, kind, namespace, name, uid, org, team, templates, pod_count, phase, "
        "status, notices, trace) select w, k, ns, n, u, o, t, tpl::jsonb, pc, ph, st::jsonb, no::jsonb, tr::jsonb "
        "from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
        "$8::text[], $9::int4[], $10::text[], $11::text[], $12::text[], $13::text[]) "
        "as v(w, k, ns, n, u, o, t, tpl, pc, ph, st, no, tr) on conflict do nothing returning workload_id",
        *columns(rows, 13))
    return {r["workload_id"] for r in records}


async def insert_workload(conn: asyncpg.Connection, **fields) -> bool:
    """Records one newly seen object (``new_workload``'s fields); returns False if it was already known."""
    return bool(await insert_workloads(conn, [new_workload(**fields)]))


async def get(conn: asyncpg.Connection, workload_id: str, *, lock: bool = False) -> WorkloadRow | None:
    record = await conn.fetchrow("select * from workloads where workload_id = $1" + (" for update" if lock else ""),
                                 workload_id)
    return WorkloadRow.of(record) if record else None


async def get_many(conn: asyncpg.Connection, workload_ids: list[str]) -> dict[str, WorkloadRow]:
    """Returns the rows of ``workload_ids`` that exist, by id (one statement, no locks)."""
    records = await conn.fetch("select * from workloads where workload_id = any($1::text[])", list(workload_ids))
    return {r["workload_id"]: WorkloadRow.of(r) for r in records}


async def transition(conn: asyncpg.Connection, workload_id: str, change: Change | None, *, now: str,
                     phase: str | None = None, only_from: tuple[str, ...] | None = None, **columns) -> bool:
    """Moves one workload to ``phase`` (if given and it is in ``only_from``), records the status change and its
    Event, and sets ``columns``; returns False when the workload is unknown or in another phase (``Rows``)."""
    rows = await Rows.load(conn, [workload_id])
    moved = rows.transition(workload_id, change, now=now, phase=phase, only_from=only_from, **columns)
    await rows.flush(conn)
    return moved


class ActiveRow(NamedTuple):
    workload_id: str
    namespace: str
    name: str
    phase: str


async def active(conn: asyncpg.Connection) -> list[ActiveRow]:
    """Returns every workload that has pods to bind, watch or evict (only what finds and sorts them: the resync
    reads thousands every few seconds)."""
    return [ActiveRow(*r) for r in await conn.fetch(
        "select workload_id, namespace, name, phase from workloads where phase in ('placed', 'running', 'evicting')")]


async def placed_assignments(conn: asyncpg.Connection) -> list[tuple[str, list[dict]]]:
    """Returns (workload id, its pods' assignments) of every workload placed or running."""
    return [(r["workload_id"], json.loads(r["assignments"]) if isinstance(r["assignments"], str)
             else r["assignments"] or []) for r in await conn.fetch(
        "select workload_id, assignments from workloads where phase in ('placed', 'running')")]


async def by_object(conn: asyncpg.Connection) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Returns (kind, namespace, name) -> (workload id, phase) for every object still open (not ended)."""
    rows = await conn.fetch("select workload_id, kind, namespace, name, phase from workloads "
                            "where phase <> all($1::text[])", list(ENDED))
    return {(r["kind"], r["namespace"], r["name"]): (r["workload_id"], r["phase"]) for r in rows}


async def known_uids(conn: asyncpg.Connection) -> set[str]:
    return {r["uid"] for r in await conn.fetch("select uid from workloads")}


async def unwritten(conn: asyncpg.Connection, limit: int = 200) -> list[asyncpg.Record]:
    """Returns workloads whose status or Events are not yet on their object."""
    return await conn.fetch("select workload_id, kind, namespace, name, uid, status, status_version, notices "
                            "from workloads where status_written < status_version limit $1", limit)


async def mark_written(conn: asyncpg.Connection, written: list[tuple[str, int, int]]) -> None:
    """Records, for each (workload id, version, notices sent), that ``version`` of its status and its first
    ``notices sent`` Events are on the object. Rows are locked in workload id order, as a batch of the connector's
    handlers locks them (``rows.Rows.load``), so the two never deadlock."""
    await conn.executemany("update workloads set status_written = greatest(status_written, $2), "
                           "notices = (select coalesce(jsonb_agg(e), '[]'::jsonb) from jsonb_array_elements(notices) "
                           "with ordinality as t(e, i) where i > $3) where workload_id = $1", sorted(written))
