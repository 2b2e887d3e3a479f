"""Composition root of the scheduler: rebuild the snapshot from Postgres, then place from events."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import asyncpg
from faststream import FastStream

from libs.events import NodeInventoried
from libs.events.topics import LIFECYCLE, NODE_INVENTORY, NODE_REPAIR, PLACEMENT, QUOTA
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.scheduler.firstfit import Snapshot
from services.scheduler.handlers import SchedulerHandlers

log = logging.getLogger("batchyard.scheduler")


async def rebuild_snapshot(pool: asyncpg.Pool) -> Snapshot:
    """Returns the snapshot as Postgres knows it: every node, minus what every placement holds."""
    snapshot = Snapshot()
    async with pool.acquire() as conn:
        for row in await conn.fetch("select spec, cordoned from nodes"):
            snapshot.upsert(NodeInventoried.model_validate_json(row["spec"]), cordoned=row["cordoned"])
        for row in await conn.fetch("select pods from placements"):
            snapshot.bind([tuple(p) for p in json.loads(row["pods"])])
    return snapshot


async def start(runtime: Runtime) -> Router:
    started = time.perf_counter()
    handlers = SchedulerHandlers(await rebuild_snapshot(runtime.pool), load=lambda: rebuild_snapshot(runtime.pool))
    runtime.extras["scheduler"] = handlers
    log.info("scheduler snapshot rebuilt: %d nodes in %.3fs", len(handlers.snapshot.nodes),
             time.perf_counter() - started)
    return handlers.router()


DEFINITION = ServiceDefinition(
    name="scheduler", consumes=(QUOTA, NODE_INVENTORY, NODE_REPAIR, LIFECYCLE), produces=(PLACEMENT,),
    service_dir=Path(__file__).parent, start=start,
    description="Keeps an in-memory snapshot of every node and places quota-reserved gangs.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
