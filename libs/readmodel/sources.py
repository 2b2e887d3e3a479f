"""The queries behind the workload read model, one per service schema; each returns plain rows keyed by id.

Every read is of a service's tenant-readable read model (quota.workloads and pending_positions, admission.audit_log,
cost_reporting.ledger and workload_events), so row-level security gives a team its own workloads only. The
scheduler's own tables are read only by a role that may (ops, admins); everyone else gets the scheduler's reasons
from the timeline cost reporting keeps.
"""

from __future__ import annotations

import asyncpg

from libs.readmodel.records import NotReady

REQUIRED = (("quota", "workloads", "quota"), ("admission", "audit_log", "admission"),
            ("cost_reporting", "ledger", "cost-reporting"), ("cost_reporting", "workload_events", "cost-reporting"))
MATCH = ("($1::text is null or {a}.team = $1) and ($2::text is null or {a}.org = $2) "
         "and ($3::text is null or {queue})")


async def check_ready(conn: asyncpg.Connection) -> None:
    """Raises NotReady naming the first service whose table is missing (the catalog needs no privilege)."""
    found = {(r["nspname"], r["relname"]) for r in await conn.fetch(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any($1::text[])", sorted({s for s, _, _ in REQUIRED}))}
    for schema, table, service in REQUIRED:
        if (schema, table) not in found:
            raise NotReady(service, f"{schema}.{table}")


async def quota_rows(conn: asyncpg.Connection, team, org, queue, ids=None) -> dict[str, asyncpg.Record]:
    """Returns quota's row of each matching workload (its state, queue, priority, reservation, reason)."""
    where = MATCH.format(a="w", queue="w.cluster_queue = $3 or w.local_queue = $3")
    rows = await conn.fetch(
        "select w.workload_id, w.org, w.team, w.local_queue, w.cluster_queue, w.priority, w.state, w.placed, "
        "w.spec->>'name' as name, w.spec->>'kind' as kind, w.admission, w.attempts, w.failures, w.pending_reason, "
        "w.pending_message, w.trace, w.created_at, w.reserved_at from quota.workloads w where " + where +
        " and ($4::text[] is null or w.workload_id = any($4::text[]))", team, org, queue, ids)
    return {r["workload_id"]: r for r in rows}


async def positions(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    """Returns the queue position of each pending workload among every team's (pending_positions counts all)."""
    rows = await conn.fetch("select workload_id, pos from quota.pending_positions where workload_id = any($1)", ids)
    return {r["workload_id"]: r["pos"] for r in rows}


async def submit_verdicts(conn: asyncpg.Connection, team, org, queue, ids=None) -> dict[str, asyncpg.Record]:
    """Returns admission's verdict on each matching submission: its acceptance if any (a later duplicate's refusal
    does not undo it), else its latest refusal."""
    rows = await conn.fetch(
        "select distinct on (a.workload_id) a.workload_id, a.org, a.team, a.queue, a.outcome, a.reason, a.rule, "
        "a.message, a.subject, a.decided_at from admission.audit_log a where a.action = 'submit' "
        "and a.workload_id is not null and " + MATCH.format(a="a", queue="a.queue = $3") +
        " and ($4::text[] is null or a.workload_id = any($4::text[])) "
        "order by a.workload_id, (a.outcome = 'accepted') desc, a.seq desc", team, org, queue, ids)
    return {r["workload_id"]: r for r in rows}


async def audit_rows(conn: asyncpg.Connection, workload_id: str) -> list[asyncpg.Record]:
    """Returns every admission decision about one workload (submissions and cancel requests), oldest first."""
    return await conn.fetch("select * from admission.audit_log where workload_id = $1 order by seq", workload_id)


async def timelines(conn: asyncpg.Connection, ids: list[str]) -> dict[str, list[asyncpg.Record]]:
    """Returns the placement and lifecycle events of each workload, in the order cost reporting handled them."""
    rows = await conn.fetch("select * from cost_reporting.workload_events where workload_id = any($1) "
                            "order by workload_id, seq", ids)
    out: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["workload_id"], []).append(r)
    return out


async def costs(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    """Returns each workload's cost so far in micro-dollars (the ledger's accruals and corrections)."""
    rows = await conn.fetch("select workload_id, sum(amount_micros)::bigint as micros from cost_reporting.ledger "
                            "where workload_id = any($1) group by workload_id", ids)
    return {r["workload_id"]: r["micros"] for r in rows}


async def scheduler_reason(conn: asyncpg.Connection, workload_id: str) -> tuple[bool, str | None]:
    """Returns (whether this role may read the scheduler's tables, its latest unschedulable message)."""
    if not await conn.fetchval(  # by oid: naming a schema the role may not use would raise
            "select coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE') and has_table_privilege(c.oid, 'SELECT')),"
            " false) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'scheduler' and c.relname = 'pending'"):
        return False, None
    return True, await conn.fetchval("select last_reason from scheduler.pending where workload_id = $1", workload_id)
