"""Quota's Postgres access: workloads by queue and state, and usage derived from reservations."""

from __future__ import annotations

import json

import asyncpg

from libs.events import WorkloadSpec
from services.quota.flat import Usage


async def insert_workload(conn: asyncpg.Connection, *, workload_id: str, org: str, team: str, local_queue: str,
                          cluster_queue: str | None, priority: int, spec: WorkloadSpec, requests: dict, state: str,
                          trace: str) -> bool:
    """Inserts a new workload; returns False if it was already known (a resubmission)."""
    return bool(await conn.fetchval(
        "insert into workloads(workload_id, org, team, local_queue, cluster_queue, priority, spec, requests, state, "
        "trace) values ($1,$2,$3,$4,$5,$6,$7::jsonb,$8::jsonb,$9,$10::jsonb) on conflict do nothing returning true",
        workload_id, org, team, local_queue, cluster_queue, priority, spec.model_dump_json(), json.dumps(requests),
        state, trace))


async def usage(conn: asyncpg.Connection, cluster_queue: str) -> Usage:
    """Returns what the queue's reserved workloads hold, per flavor and resource."""
    rows = await conn.fetch("select flavor, requests from workloads where cluster_queue = $1 and state = 'reserved'",
                            cluster_queue)
    total: Usage = {}
    for row in rows:
        bucket = total.setdefault(row["flavor"], {})
        for res, amount in json.loads(row["requests"]).items():
            bucket[res] = bucket.get(res, 0) + amount
    return total


async def pending(conn: asyncpg.Connection, cluster_queue: str) -> list[asyncpg.Record]:
    """Returns the queue's pending workloads, highest priority first, then in arrival order; locks them."""
    return await conn.fetch("select workload_id, org, team, priority, spec, requests, trace, excluded from workloads "
                            "where cluster_queue = $1 and state = 'pending' order by priority desc, seq "
                            "for update", cluster_queue)


async def set_state(conn: asyncpg.Connection, workload_id: str, state: str, flavor: str | None = None) -> None:
    await conn.execute("update workloads set state = $2, flavor = coalesce($3, flavor), updated_at = now() "
                       "where workload_id = $1", workload_id, state, flavor)


async def return_unfit(conn: asyncpg.Connection, workload_id: str) -> asyncpg.Record | None:
    """Puts a reserved workload back to pending, excluding the flavor it held; returns (cluster_queue, flavor)."""
    return await conn.fetchrow(
        "update workloads set state = 'pending', excluded = array_append(excluded, flavor), flavor = null, "
        "updated_at = now() where workload_id = $1 and state = 'reserved' returning cluster_queue, "
        "excluded[array_length(excluded, 1)] as flavor", workload_id)


async def finish(conn: asyncpg.Connection, workload_id: str) -> asyncpg.Record | None:
    """Marks a workload finished; returns its row if it held a reservation (so quota must be released)."""
    return await conn.fetchrow("update workloads set state = 'finished', updated_at = now() "
                               "where workload_id = $1 and state = 'reserved' returning cluster_queue, flavor",
                               workload_id)
