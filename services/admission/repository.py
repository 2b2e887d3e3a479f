"""Admission's Postgres adapter: the replay cache, the admitted-workload index and the audit log.

Every function takes the handler's connection, so it runs inside the inbox transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


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


async def record_admitted(conn: asyncpg.Connection, workload_id: str, event_id: uuid.UUID) -> None:
    await conn.execute("insert into admitted_workloads(workload_id, event_id) values ($1, $2)",
                       workload_id, event_id)


_AUDIT_COLUMNS = ("event_id", "decided_at", "outcome", "workload_id", "org", "team", "subject", "caller_tenant",
                  "key_id", "token_id", "queue", "priority_class", "reason", "rule", "message", "violations",
                  "defaulted", "submission_digest", "producer")
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


async def record_admitted_many(conn: asyncpg.Connection, admitted: list[tuple[str, uuid.UUID]]) -> None:
    if admitted:
        ids, events = (list(column) for column in zip(*admitted))
        await conn.execute("insert into admitted_workloads(workload_id, event_id) "
                           "select * from unnest($1::text[], $2::uuid[])", ids, events)


async def record_decisions(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    """Appends decisions to the audit log in one pipelined round trip."""
    await conn.executemany(_AUDIT_INSERT, [tuple(row.get(c) for c in _AUDIT_COLUMNS) for row in rows])
