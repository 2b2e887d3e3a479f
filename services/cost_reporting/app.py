"""Composition root of the cost-reporting service."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from libs.events.topics import COST_ACCRUALS, COST_ROLLUPS, LIFECYCLE, NODE_INVENTORY, PLACEMENT
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.cost_reporting.handlers import router


async def start(runtime: Runtime) -> Router:
    return router


DEFINITION = ServiceDefinition(
    name="cost-reporting", consumes=(NODE_INVENTORY, PLACEMENT, LIFECYCLE), produces=(COST_ACCRUALS, COST_ROLLUPS),
    service_dir=Path(__file__).parent, start=start,
    description="Turns placements, lifetimes and node prices into a ledger and finance streams.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
