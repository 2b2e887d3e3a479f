"""Composition root of the admission service."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from libs.events.topics import ADMISSION, SUBMITTED
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.admission.handlers import router


async def start(runtime: Runtime) -> Router:
    return router


DEFINITION = ServiceDefinition(
    name="admission", consumes=(SUBMITTED,), produces=(ADMISSION,), service_dir=Path(__file__).parent,
    start=start, description="Validates and authorizes submissions; emits accepted or rejected with a reason.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
