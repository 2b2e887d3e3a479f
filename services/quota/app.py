"""Composition root of the quota service."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from libs.events.topics import ADMISSION, LIFECYCLE, PLACEMENT, QUOTA
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.quota.config import load_quota_config
from services.quota.handlers import QuotaHandlers


async def start(runtime: Runtime) -> Router:
    handlers = QuotaHandlers(load_quota_config(runtime.settings.quota_config))
    runtime.extras["quota"] = handlers
    return handlers.router()


DEFINITION = ServiceDefinition(
    name="quota", consumes=(ADMISSION, LIFECYCLE, PLACEMENT), produces=(QUOTA,), service_dir=Path(__file__).parent,
    start=start, description="Reserves quota per cluster queue and flavor; releases it when workloads end.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
