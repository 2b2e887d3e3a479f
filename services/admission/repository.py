"""Admission's Postgres adapter: the replay cache, the admitted-workload index, team usage and the audit log.

Every function takes the handler's connection, so it runs inside the inbox transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

Team = tuple[str, str]  # (org, team)
Sums = tuple[int, int, int]  # (gpu_milli, pods, workloads) a team holds


async def claim_token(conn: asyncpg.Connection, jti: str, binding: str, expires_at: int, now: int) -> bool:
    """Spends ``jti`` on ``binding``; returns False if it is already spent on another, unexpired binding.

    Atomic under concurrency: the insert (or the take-over of an expired claim) and the comparison are one
    statement's row lock apart, and the caller's transaction holds that lock until it commits.
    """
    taken = await conn.fetchval(
        "insert into token_claims(jti, binding, expires_at) values ($1, $2, $3) "
        "on conflict (jti) do update set binding = excluded.binding, expires_at = excluded.expires_at, "
        "claimed_at = now() where token_claims.expires_at <= $4 returning true", jti, binding, expires_at, now)
    if taken:
        return True
    return await conn.fetchval("select binding = $2 from token_claims where jti = $1", jti, binding) is True


async def purge_expired_claims(conn: asyncpg.Connection, now: int) -> int:
    """Deletes spent token ids whose tokens have expired anyway; returns how many."""
    result = await conn.execute("delete from token_claims where expires_at <= $1", now)
    return int(result.split()[-1])


async def already_admitted(conn: asyncpg.Connection, workload_id: str) -> bool:
    """Returns whether a workload with this id was admitted before."""
    return bool(await conn.fetchval("select 1 from admitted_workloads where workload_id = $1", workload_id))


_AUDIT_COLUMNS = ("event_id", "decided_at", "outcome", "workload_id", "org", "team", "subject", "caller_tenant",
                  "key_id", "token_id", "queue", "priority_class", "reason", "rule", "message", "violations",
                  "defaulted", "submission_digest", "producer", "action", "trace_id")
_AUDIT_INSERT = (f"insert into audit_log({', '.join(_AUDIT_COLUMNS)}) values "
                 f"({', '.join(f'${i + 1}' for i in range(len(_AUDIT_COLUMNS)))})")


async def record_decision(conn: asyncpg.Connection, row: dict[str, Any]) -> None:
    """Appends one decision to the audit log; ``row`` has the audit columns (see ``audit_row``)."""
    await conn.execute(_AUDIT_INSERT, *(row.get(c) for c in _AUDIT_COLUMNS))


async def list_decisions(conn: asyncpg.Connection, *, org: str | None = None, team: str | None = None,
                         rejected: bool = False, workload_id: str | None = None,
                         limit: int = 50) -> list[asyncpg.Record]:
    """Returns the newest decisions first, filtered by tenant, outcome and workload."""
    clauses, args = [], []
    for column, value in (("org", org), ("team", team), ("workload_id", workload_id)):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if rejected:
        clauses.append("outcome = 'rejected'")
    where = f"where {' and '.join(clauses)} " if clauses else ""
    args.append(limit)
    return await conn.fetch(f"select * from audit_log {where}order by seq desc limit ${len(args)}", *args)


async def held_workload(conn: asyncpg.Connection, workload_id: str) -> asyncpg.Record | None:
    """Returns the admitted workload's tenant and what ended it (org, team, finished_by), its row locked for this
    transaction (a terminal event handled meanwhile by another instance waits); None if never admitted."""
    return await conn.fetchrow("select org, team, finished_by from admitted_workloads where workload_id = $1 "
                               "for update", workload_id)


_SUBMITTED_CLASS = ("(select a.priority_class from audit_log a where a.workload_id = w.workload_id "
                    "and a.action = 'submit' and a.outcome = 'accepted' order by a.seq desc limit 1)")


async def held_state(conn: asyncpg.Connection, workload_id: str, *, priority_class: bool = False
                     ) -> asyncpg.Record | None:
    """Returns the admitted workload's tenant, what ended it, whether it is suspended and (``priority_class``: a
    priority request's question, which reads the audit log) its priority class now (org, team, finished_by,
    suspended, priority_class: as last changed, else as its accepted submission's audit row says; null when not
    asked), its row locked for this transaction; None if never admitted."""
    current = f"coalesce(w.priority_class, {_SUBMITTED_CLASS})" if priority_class else "null::text"
    return await conn.fetchrow(
        f"select org, team, finished_by, suspended_at is not null as suspended, {current} as priority_class "
        "from admitted_workloads w where workload_id = $1 for update of w", workload_id)


async def set_priority_class(conn: asyncpg.Connection, workload_id: str, priority_class: str) -> None:
    """Records the workload's priority class from now on."""
    await conn.execute("update admitted_workloads set priority_class = $2 where workload_id = $1", workload_id,
                       priority_class)


async def set_suspended(conn: asyncpg.Connection, workload_id: str, at: datetime | None) -> None:
    """Marks the workload suspended since ``at``, or (None) no longer suspended."""
    await conn.execute("update admitted_workloads set suspended_at = $2 where workload_id = $1", workload_id, at)


# Batch forms of the statements above: one round trip each for a whole poll batch.

async def admitted_among(conn: asyncpg.Connection, workload_ids: list[str]) -> set[str]:
    """Returns which of ``workload_ids`` were admitted before."""
    rows = await conn.fetch("select workload_id from admitted_workloads where workload_id = any($1::text[])",
                            workload_ids)
    return {r[0] for r in rows}


async def live_claims(conn: asyncpg.Connection, jtis: list[str], now: int) -> dict[str, str]:
    """Returns jti -> binding of the unexpired claims among ``jtis``."""
    rows = await conn.fetch("select jti, binding from token_claims where jti = any($1::text[]) and expires_at > $2",
                            jtis, now)
    return {r[0]: r[1] for r in rows}


async def claim_tokens(conn: asyncpg.Connection, claims: list[tuple[str, str, int]], now: int) -> set[str]:
    """Spends each (jti, binding, expires_at) not already spent unexpired; returns the jtis this call spent."""
    if not claims:
        return set()
    jtis, bindings, expiries = (list(column) for column in zip(*claims))
    rows = await conn.fetch(
        "insert into token_claims(jti, binding, expires_at) select * from unnest($1::text[], $2::text[], "
        "$3::bigint[]) on conflict (jti) do update set binding = excluded.binding, expires_at = excluded.expires_at, "
        "claimed_at = now() where token_claims.expires_at <= $4 returning jti", jtis, bindings, expiries, now)
    return {r[0] for r in rows}


AdmittedRow = tuple[str, uuid.UUID, str, str, int, int]  # (workload id, event id, org, team, gpu_milli, pods)


async def record_admitted_many(conn: asyncpg.Connection, admitted: list[AdmittedRow]) -> None:
    """Records admitted workloads with their tenant and size (unfinished)."""
    if admitted:
        ids, events, orgs, teams, gpus, pods = (list(column) for column in zip(*admitted))
        await conn.execute("insert into admitted_workloads(workload_id, event_id, org, team, gpu_milli, pods) "
                           "select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], "
                           "$6::int[])", ids, events, orgs, teams, gpus, pods)


# Team usage: the sums over each team's admitted, unfinished workloads (migration 003).

async def lock_teams(conn: asyncpg.Connection, teams: list[Team]) -> None:
    """Takes a transaction-scoped advisory lock per (org, team), in the order given (callers sort, so two
    instances lock shared teams in one order), so admissions of one team by several instances serialise.

    A statement of its own: in READ COMMITTED each statement reads a fresh snapshot, so the usage read by the
    next statement includes what the previous holder of the lock committed.
    """
    if teams:
        orgs, names = (list(column) for column in zip(*teams))
        await conn.execute("select pg_advisory_xact_lock(hashtextextended('admission.team_usage:' || o || '/' || t, "
                           "0)) from unnest($1::text[], $2::text[]) as k(o, t)", orgs, names)


async def team_usage(conn: asyncpg.Connection, teams: list[Team]) -> dict[Team, Sums]:
    """Returns (org, team) -> (gpu_milli, pods, workloads) held, for those of ``teams`` that hold anything."""
    if not teams:
        return {}
    orgs, names = (list(column) for column in zip(*teams))
    rows = await conn.fetch("select org, team, gpu_milli, pods, workloads from team_usage "
                            "where (org, team) in (select * from unnest($1::text[], $2::text[]))", orgs, names)
    return {(r["org"], r["team"]): (r["gpu_milli"], r["pods"], r["workloads"]) for r in rows}


async def add_usage(conn: asyncpg.Connection, deltas: list[tuple[str, str, int, int, int]]) -> None:
    """Adds each (org, team, gpu_milli, pods, workloads), one row per team, to the team's sums.

    In the order given (callers sort, so concurrent transactions take the row locks in one order).
    """
    if deltas:
        orgs, teams, gpus, pods, workloads = (list(column) for column in zip(*deltas))
        await conn.execute(
            "insert into team_usage(org, team, gpu_milli, pods, workloads) select * from unnest($1::text[], "
            "$2::text[], $3::bigint[], $4::bigint[], $5::int[]) on conflict (org, team) do update set "
            "gpu_milli = team_usage.gpu_milli + excluded.gpu_milli, pods = team_usage.pods + excluded.pods, "
            "workloads = team_usage.workloads + excluded.workloads", orgs, teams, gpus, pods, workloads)


async def subtract_usage(conn: asyncpg.Connection, deltas: list[tuple[str, str, int, int, int]]) -> None:
    """Subtracts each (org, team, gpu_milli, pods, workloads), one row per team, from the team's sums.

    A team with no sums, or one that would go below zero (a check constraint), means the sums and the admitted
    workloads disagree: raises rather than release what was never counted.
    """
    if not deltas:
        return
    orgs, teams, gpus, pods, workloads = (list(column) for column in zip(*deltas))
    changed = await conn.fetch(
        "update team_usage u set gpu_milli = u.gpu_milli - d.gpu_milli, pods = u.pods - d.pods, "
        "workloads = u.workloads - d.workloads from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
        "$5::int[]) as d(org, team, gpu_milli, pods, workloads) where u.org = d.org and u.team = d.team "
        "returning u.org, u.team", orgs, teams, gpus, pods, workloads)
    missing = sorted({(o, t) for o, t, *_ in deltas} - {(r[0], r[1]) for r in changed})
    if missing:
        shown = ", ".join(f"{o}/{t}" for o, t in missing)
        raise UsageMismatch(f"team usage of {shown} is missing while it holds admitted, unfinished workloads")


class UsageMismatch(RuntimeError):
    """``team_usage`` disagrees with ``admitted_workloads``: a bug or a manual edit, never input data."""


async def finish_workloads(conn: asyncpg.Connection,
                           ends: list[tuple[str, datetime, str]]) -> list[asyncpg.Record]:
    """Marks admitted, unfinished workloads finished, each (workload id, finished at, event type) once; returns
    the rows it marked (workload_id, org, team, gpu_milli, pods). An id never admitted, or already finished,
    or named twice, is not returned (again)."""
    if not ends:
        return []
    ids, ats, types = (list(column) for column in zip(*ends))
    return await conn.fetch(
        "update admitted_workloads a set finished_at = e.at, finished_by = e.type "
        "from unnest($1::text[], $2::timestamptz[], $3::text[]) as e(id, at, type) "
        "where a.workload_id = e.id and a.finished_at is null "
        "returning a.workload_id, a.org, a.team, a.gpu_milli, a.pods", ids, ats, types)


async def usage_from_workloads(conn: asyncpg.Connection) -> dict[Team, Sums]:
    """Returns the team sums recounted from the admitted, unfinished workloads (to check ``team_usage``)."""
    rows = await conn.fetch("select org, team, sum(gpu_milli), sum(pods), count(*) from admitted_workloads "
                            "where finished_at is null and org is not null group by org, team")
    return {(r[0], r[1]): (int(r[2]), int(r[3]), r[4]) for r in rows}


async def record_decisions(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    """Appends decisions to the audit log in one pipelined round trip."""
    await conn.executemany(_AUDIT_INSERT, [tuple(row.get(c) for c in _AUDIT_COLUMNS) for row in rows])
