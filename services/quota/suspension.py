"""Quota's record of suspended workloads (docs/adr/0016-suspend-resume-priority-retries.md).

A resume queues the workload again only once its suspended run has stopped, so the new attempt's reservation
never meets the old run's pods: like an eviction's requeue, which follows the WorkloadEvicted. Three things say
the run stopped: quota held no reservation when it suspended the workload, the scheduler's copy of the suspension
says it held no nodes for a run quota never saw placed, or an end of the run (WorkloadEvicted) arrived. A run quota
saw placed and the scheduler no longer holds has ended by itself, its end still on its way on the lifecycle topic:
only that end tells whether it succeeded (nothing to resume) or was stopped.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def remember(conn: asyncpg.Connection, workload_id: str, at: datetime, had: str | None, placed: bool) -> bool:
    """Records the suspension named ``at``; False if this suspension was already recorded (a redelivery)."""
    return bool(await conn.fetchval(
        "insert into suspended_workloads(workload_id, suspended_at, had, stopped, placed) values ($1, $2, $3, $4, $5) "
        "on conflict (workload_id) do update set suspended_at = excluded.suspended_at, had = excluded.had, "
        "stopped = excluded.stopped, placed = excluded.placed, resumed_at = null "
        "where suspended_workloads.suspended_at <> excluded.suspended_at returning true",
        workload_id, at, had, had != "reserved", placed))


async def stopped(conn: asyncpg.Connection, workload_id: str, at: datetime | None = None) -> bool | None:
    """Marks the suspended run of ``workload_id`` stopped: on its end (``at`` None), or on the scheduler's word for
    the suspension ``at`` that it held no nodes, if quota never saw the run placed. Returns None if no run of it
    was stopping (or this is not proof), else whether it was resumed meanwhile and is to be queued now."""
    return await conn.fetchval(
        "update suspended_workloads set stopped = true where workload_id = $1 and not stopped "
        "and ($2::timestamptz is null or (suspended_at = $2 and not placed)) returning resumed_at is not null",
        workload_id, at)


async def saw_placed(conn: asyncpg.Connection, workload_ids: list[str]) -> None:
    """Notes the WorkloadPlaced of each of these workloads whose suspended run is still stopping: the scheduler's
    copy of the suspension no longer proves it stopped. One statement for a poll batch's run of placements."""
    await conn.execute("update suspended_workloads set placed = true where workload_id = any($1::text[]) "
                       "and not stopped", workload_ids)


async def ended_by_themselves(conn: asyncpg.Connection, workload_ids: list[str]) -> set[str]:
    """Of these workloads that ended (succeeded or failed), the ones whose suspended run ended by itself before it
    was stopped: forgets their suspensions (a resume has nothing to queue) and finishes their rows; returns their
    ids. One statement for a poll batch's run of ends (was two round trips per end)."""
    rows = await conn.fetch(
        "with ended as (delete from suspended_workloads where workload_id = any($1::text[]) and not stopped "
        "returning workload_id), "
        "finished as (update workloads set state = 'finished', updated_at = now() "
        "where workload_id in (select workload_id from ended)) "
        "select workload_id from ended", workload_ids)
    return {row["workload_id"] for row in rows}


async def resume(conn: asyncpg.Connection, workload_id: str, at: datetime) -> str | None:
    """Handles a resume: returns ``queue`` (the run has stopped: queue it now, the row is gone), ``wait`` (queue it
    when the run stops), ``ended`` (it finished meanwhile: nothing to queue, the row is gone), or None (not
    suspended here: a redelivery)."""
    row = await conn.fetchrow("select had, stopped from suspended_workloads where workload_id = $1 for update",
                              workload_id)
    if row is None:
        return None
    if row["had"] == "finished" or row["stopped"]:
        await forget(conn, workload_id)
        return "ended" if row["had"] == "finished" else "queue"
    await conn.execute("update suspended_workloads set resumed_at = $2 where workload_id = $1", workload_id, at)
    return "wait"


async def forget(conn: asyncpg.Connection, workload_id: str) -> None:
    await conn.execute("delete from suspended_workloads where workload_id = $1", workload_id)


async def mark_row(conn: asyncpg.Connection, workload_id: str) -> None:
    """Shows the workload as suspended in quota's workloads table (read by `batchyard queues`); called after the
    cycle that released it wrote it 'finished'."""
    await conn.execute("update workloads set state = 'suspended', admission = null, position = null, "
                       "pending_reason = null, pending_message = null, updated_at = now() "
                       "where workload_id = $1", workload_id)


async def requeue_row(conn: asyncpg.Connection, workload_id: str, created_at: float) -> asyncpg.Record | None:
    """Puts a resumed workload's row back to pending as a fresh attempt (queued from ``created_at``, no backoff);
    returns the row, or None if it is no longer suspended."""
    return await conn.fetchrow(
        "update workloads set state = 'pending', created_at = $2, requeue_at = 0, placed = false, admission = null, "
        "updated_at = now() where workload_id = $1 and state = 'suspended' returning *", workload_id, created_at)
