"""Composition root of the admission service: keyring and policy files, the clock, the handlers."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from libs.events.topics import ADMISSION, LIFECYCLE, SUBMITTED
from libs.platform.service import Runtime, ServiceDefinition
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.admission.handlers import AdmissionHandlers
from services.admission.keyring import load_verifier_keyring
from services.admission.policy import load_service_policy
from services.admission.reload import HotFile


REPO = Path(__file__).resolve().parents[2]


def config_path(value: str) -> Path:
    """Returns a configured file path; relative paths not found from the working directory are the repo's."""
    path = Path(value)
    return path if path.is_absolute() or path.exists() else REPO / path


def build_handlers(settings: Settings) -> AdmissionHandlers:
    """Returns the handlers with the keyring and policy files loaded (raises if either is invalid)."""
    interval = settings.admission_reload_s
    return AdmissionHandlers(
        keyring=HotFile(config_path(settings.admission_keyring), load_verifier_keyring, interval_s=interval),
        policy=HotFile(config_path(settings.admission_policy), load_service_policy, interval_s=interval))


async def start(runtime: Runtime) -> Router:
    handlers = runtime.service or build_handlers(runtime.settings)  # a test may hand its own in
    runtime.service = handlers  # tests reach counters and the clock through this
    return handlers.router()


# LIFECYCLE: WorkloadSucceeded and WorkloadFailed release the ended workload's team usage (see usage.py).
DEFINITION = ServiceDefinition(
    name="admission", consumes=(SUBMITTED, LIFECYCLE), produces=(ADMISSION,), service_dir=Path(__file__).parent,
    start=start, batch=True, description="Authenticates (signed tokens), authorizes and applies per-tenant policy to "
                             "submissions, counting what each team already holds against its team limits; emits "
                             "accepted or rejected with a reason code and the rule.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
