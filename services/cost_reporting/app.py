"""Composition root of the cost-reporting service: the handlers, plus the hour closer as a background task."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

from libs.events.topics import COST_ACCRUALS, COST_ROLLUPS, LIFECYCLE, NODE_INVENTORY, PLACEMENT
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.cost_reporting.closer import Closer
from services.cost_reporting.handlers import CostHandlers
from services.cost_reporting.metrics import CostMetrics


async def start(runtime: Runtime) -> Router:
    settings = runtime.settings
    closer = Closer(runtime.pool, settings.topic_namespace, wake=lambda: runtime.relay.wake(),
                    grace=timedelta(seconds=settings.cost_close_grace_s), period_s=settings.cost_close_period_s)
    runtime.service = closer
    runtime.spawn(closer.run(), name="cost-closer")
    runtime.watch(CostMetrics(runtime.pool).gauges)
    return CostHandlers().router()


DEFINITION = ServiceDefinition(
    name="cost-reporting", consumes=(NODE_INVENTORY, PLACEMENT, LIFECYCLE), produces=(COST_ACCRUALS, COST_ROLLUPS),
    service_dir=Path(__file__).parent, start=start,
    batch=True,  # a poll batch per transaction: its handlers only write rows, under the ledger's transaction lock
    description="Turns placements, lifetimes and a versioned price catalog into a ledger per node-hour that "
                "reconciles to the micro-dollar, per-workload accruals and daily rollups.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
