"""Postgres access for the Kubernetes connector: workloads (one per job object) and nodes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg

from services.kube_connector.status import Change, advance, notice

ACTIVE = ("placed", "running", "evicting")
ENDED = ("refused", "invalid", "succeeded", "failed", "deleted")


@dataclass(frozen=True)
class WorkloadRow:
    """A workload as the connector keeps it (see migrations/001_connector.sql for each column's purpose)."""

    workload_id: str
    kind: str
    namespace: str
    name: str
    uid: str
    org: str | None
    team: str | None
    templates: dict
    pod_count: int
    phase: str
    attempt: int
    assignments: list
    evict_reason: str | None
    evict_message: str | None
    trace: dict
    failures: int = 0  # runs that failed before this attempt (WorkloadPlaced.failures)
    backoff_limit: int = 0  # failed runs retried before a failure is final (the spec's)

    @classmethod
    def of(cls, record: asyncpg.Record) -> "WorkloadRow":
        data = {f: record[f] for f in cls.__dataclass_fields__}
        for f in ("templates", "assignments", "trace"):
            data[f] = json.loads(data[f]) if isinstance(data[f], str) else (data[f] or ({} if f != "assignments"
                                                                                          else []))
        return cls(**data)


async def insert_workload(conn: asyncpg.Connection, *, workload_id: str, kind: str, meta: dict, org: str | None,
                          team: str | None, templates: dict, pod_count: int, phase: str, change: Change, now: str,
                          trace: str) -> bool:
    """Records a newly seen object; returns False if it was already known (a relist, a restart)."""
    status = advance({}, change, now=now, workload_id=workload_id)
    return bool(await conn.fetchval(
        "insert into workloads(workload_id, kind, namespace, name, uid, org, team, templates, pod_count, phase, "
        "status, notices, trace) values ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11::jsonb,$12::jsonb,$13::jsonb) "
        "on conflict do nothing returning true",
        workload_id, kind, meta["namespace"], meta["name"], meta["uid"], org, team, json.dumps(templates), pod_count,
        phase, json.dumps(status), json.dumps([notice(change)]), trace))


async def get(conn: asyncpg.Connection, workload_id: str, *, lock: bool = False) -> WorkloadRow | None:
    record = await conn.fetchrow("select * from workloads where workload_id = $1" + (" for update" if lock else ""),
                                 workload_id)
    return WorkloadRow.of(record) if record else None


async def transition(conn: asyncpg.Connection, workload_id: str, change: Change | None, *, now: str,
                     phase: str | None = None, only_from: tuple[str, ...] | None = None, **columns) -> bool:
    """Moves a workload to ``phase`` (if given and it is in ``only_from``), records the status change and its Event,
    and sets ``columns``; returns False when the workload is unknown or in another phase."""
    row = await conn.fetchrow("select phase, status, notices from workloads where workload_id = $1 for update",
                              workload_id)
    if row is None or (only_from is not None and row["phase"] not in only_from):
        return False
    sets, args = ["updated_at = now()"], [workload_id]
    if phase is not None:
        args.append(phase)
        sets.append(f"phase = ${len(args)}")
    if change is not None:
        facts = {k: columns.pop(k) for k in ("clusterQueue", "attempts", "nodes") if k in columns}
        status = advance(json.loads(row["status"]), change, now=now, workload_id=workload_id, **facts)
        args += [json.dumps(status), json.dumps([*json.loads(row["notices"]), notice(change)][-20:])]
        sets += [f"status = ${len(args) - 1}::jsonb", f"notices = ${len(args)}::jsonb",
                 "status_version = status_version + 1"]
    for column, value in columns.items():
        args.append(json.dumps(value) if column == "assignments" else value)
        sets.append(f"{column} = ${len(args)}" + ("::jsonb" if column == "assignments" else ""))
    await conn.execute(f"update workloads set {', '.join(sets)} where workload_id = $1", *args)
    return True


async def active(conn: asyncpg.Connection) -> list[WorkloadRow]:
    """Returns every workload that has pods to bind, watch or evict."""
    return [WorkloadRow.of(r) for r in await conn.fetch(
        "select * from workloads where phase in ('placed', 'running', 'evicting')")]


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
    ``notices sent`` Events are on the object."""
    await conn.executemany("update workloads set status_written = greatest(status_written, $2), "
                           "notices = (select coalesce(jsonb_agg(e), '[]'::jsonb) from jsonb_array_elements(notices) "
                           "with ordinality as t(e, i) where i > $3) where workload_id = $1", written)
