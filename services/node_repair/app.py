"""Composition root of the node-repair service."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from libs.events.topics import NODE_HEALTH, NODE_INVENTORY, NODE_REPAIR
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.node_repair import repair_loop
from services.node_repair.config import load_repair_config
from services.node_repair.handlers import RepairHandlers
from services.node_repair.metrics import RepairMetrics


async def start(runtime: Runtime) -> Router:
    config = load_repair_config(runtime.settings.repair_config)
    handlers = RepairHandlers()
    runtime.service = handlers
    runtime.watch(RepairMetrics(runtime.pool).gauges)
    runtime.spawn(
        repair_loop.run(runtime.pool, runtime.settings.topic_namespace, config, wake=lambda: runtime.relay.wake()),
        name="repair-cycle")
    return handlers.router()


DEFINITION = ServiceDefinition(
    name="node-repair", consumes=(NODE_INVENTORY, NODE_HEALTH), produces=(NODE_REPAIR,),
    service_dir=Path(__file__).parent, start=start,
    batch=True,  # a poll batch per transaction: its handlers only write rows, in the planning cycle's lock order
    description="Diagnoses node health signals and drives each node through repair under safety budgets.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
