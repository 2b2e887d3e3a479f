"""Composition root of the simulated fleet connector."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg
from faststream import FastStream

from libs.events.topics import LIFECYCLE, NODE_HEALTH, NODE_INVENTORY, NODE_REPAIR, PLACEMENT, QUOTA
from libs.fleet import FleetSpec, load_fleet
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router, UnitOfWork
from libs.platform.clock import load_clock
from services.sim_fleet.handlers import FleetHandlers
from services.sim_fleet.ticker import Ticker


async def publish_inventory(pool: asyncpg.Pool, fleet: FleetSpec, namespace: str) -> int:
    """Publishes every node whose description changed since the last run; returns how many."""
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        known = {r["node_id"]: r["digest"] for r in await conn.fetch("select node_id, digest from inventory")}
        uow = UnitOfWork(conn=conn, producer="sim-fleet", namespace=namespace)
        for event in fleet.node_events():
            body = event.model_dump_json(exclude={"event_id", "occurred_at"})
            digest = hashlib.sha256(body.encode()).hexdigest()
            if known.get(event.node_id) == digest:
                continue
            await conn.execute("insert into inventory(node_id, digest) values ($1, $2) on conflict (node_id) "
                               "do update set digest = excluded.digest", event.node_id, digest)
            await uow.emit(event)
            sent += 1
    return sent


async def start(runtime: Runtime) -> Router:
    settings = runtime.settings
    fleet = load_fleet(settings.fleet_spec)
    clock = await load_clock(runtime.pool, settings.time_scale)
    await publish_inventory(runtime.pool, fleet, settings.topic_namespace)
    ticker = Ticker(runtime.pool, clock, fleet, settings.topic_namespace, wake=lambda: runtime.relay.wake())
    runtime.service = ticker
    runtime.spawn(ticker.run(), name="fleet-ticker")
    return FleetHandlers(clock, fleet.faults).router()


DEFINITION = ServiceDefinition(
    name="sim-fleet", consumes=(PLACEMENT, QUOTA, NODE_REPAIR), produces=(NODE_INVENTORY, NODE_HEALTH, LIFECYCLE),
    service_dir=Path(__file__).parent, start=start,
    batch=True,  # a poll batch per transaction: its handlers only read and write rows (no in-memory state)
    description="A simulated fleet: reports nodes, runs placed pods on a scaled clock, injects faults, "
                "drains and repairs nodes.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
