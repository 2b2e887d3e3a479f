"""Ops overrides and read models for `batchyard nodes`: pause, resume, force, exclude, list, why.

Everything is a row in node-repair's schema; the running service reads the overrides at its next planning
cycle, so a command takes effect within a fraction of a second and survives restarts.
"""

from __future__ import annotations

import json

import asyncpg


async def pause(conn: asyncpg.Connection, pool: str | None = None, by: str = "") -> None:
    """Stops new repairs everywhere (or in ``pool``); drains and repairs already under way finish."""
    await conn.execute("insert into repair_paused(scope, by_whom) values ($1, $2) on conflict (scope) do nothing",
                       pool or "*", by)


async def resume(conn: asyncpg.Connection, pool: str | None = None) -> bool:
    """Lifts a pause; returns False if there was none for that scope."""
    return await conn.execute("delete from repair_paused where scope = $1", pool or "*") != "DELETE 0"


async def _known(conn: asyncpg.Connection, node: str) -> bool:
    return bool(await conn.fetchval("select true from repair_nodes where node_id = $1", node))


async def force(conn: asyncpg.Connection, node: str) -> bool:
    """Asks for one repair of ``node`` now, past pauses, rate limits and budgets; False if the node is unknown."""
    if not await _known(conn, node):
        return False
    await conn.execute(
        "insert into repair_forced(node_id, requested_at) select $1, greatest(coalesce((select watermark from "
        "repair_clock where id = 1), now()), now()) on conflict (node_id) do update set requested_at = "
        "excluded.requested_at", node)
    return True


async def exclude(conn: asyncpg.Connection, node: str, *, remove: bool = False) -> bool:
    """Keeps the planner from ever cordoning ``node`` (or lets it again); False if the node is unknown."""
    if not await _known(conn, node):
        return False
    if remove:
        await conn.execute("delete from repair_excluded where node_id = $1", node)
    else:
        await conn.execute("insert into repair_excluded(node_id) values ($1) on conflict do nothing", node)
    return True


async def list_nodes(conn: asyncpg.Connection, *, state: str | None = None, pool: str | None = None,
                     all_nodes: bool = False) -> list[dict]:
    """Returns nodes with their state, action, and why they wait; healthy ones only with ``all_nodes``."""
    rows = await conn.fetch(
        "select node_id, pool, domain, state, record->>'action' as action, record->>'since' as since, deferred, "
        "diagnosis, node_id in (select node_id from repair_excluded) as excluded, "
        "node_id in (select node_id from repair_forced) as forced from repair_nodes "
        "where ($1::text is null or state = $1) and ($2::text is null or pool = $2) and "
        "($3 or state <> 'healthy' or deferred <> '') order by pool, node_id", state, pool, all_nodes)
    return [dict(r) for r in rows]


async def paused_scopes(conn: asyncpg.Connection) -> list[str]:
    return [r["scope"] for r in await conn.fetch("select scope from repair_paused order by scope")]


async def why(conn: asyncpg.Connection, node: str, *, last: int = 10) -> dict | None:
    """Returns a node's state, latest diagnosis, deferral and its last ``last`` transitions with evidence."""
    row = await conn.fetchrow("select * from repair_nodes where node_id = $1", node)
    if row is None:
        return None
    history = await conn.fetch("select * from (select * from repair_transitions where node_id = $1 order by seq "
                               "desc limit $2) t order by seq", node, last)
    record = json.loads(row["record"]) if row["record"] else {}
    return {"node": node, "pool": row["pool"], "domain": row["domain"], "state": row["state"],
            "action": record.get("action", "none"), "diagnosis": row["diagnosis"], "deferred": row["deferred"],
            "excluded": bool(await conn.fetchval("select true from repair_excluded where node_id = $1", node)),
            "forced": bool(await conn.fetchval("select true from repair_forced where node_id = $1", node)),
            "paused": await paused_scopes(conn),
            "transitions": [{"at": t["at"].isoformat(), "from": t["from_state"], "to": t["to_state"],
                             "reason": t["reason"], "action": t["action"], "evidence": json.loads(t["evidence"])}
                            for t in history]}
