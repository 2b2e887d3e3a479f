"""Moves cordoned nodes through repair and back to service after a fixed (wall-clock) repair time."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import asyncpg

from libs.platform.unit_of_work import UnitOfWork
from services.node_repair.handlers import transition

log = logging.getLogger("batchyard.node_repair")
NEXT = {"cordoned": ("repairing", "reboot"), "repairing": ("healthy", None)}


async def run(pool: asyncpg.Pool, namespace: str, wake, *, step_s: float = 2.0, period_s: float = 0.5) -> None:
    while True:
        try:
            if await advance(pool, namespace, step_s):
                wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried next period
            log.warning("repair loop: %r", exc)
        await asyncio.sleep(period_s)


async def advance(pool: asyncpg.Pool, namespace: str, step_s: float) -> int:
    """Advances every node that has spent ``step_s`` in its state; returns how many moved."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("select node_id, state, evidence from node_states where state = any($1::text[]) "
                                "and since <= $2 for update skip locked", list(NEXT), time.time() - step_s)
        uow = UnitOfWork(conn=conn, producer="node-repair", namespace=namespace)
        for row in rows:
            to_state, action = NEXT[row["state"]]
            await transition(uow, row["node_id"], row["state"], to_state,
                             "repair-started" if action else "repair-completed", json.loads(row["evidence"]), action)
    return len(rows)
