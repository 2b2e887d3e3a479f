"""``batchyard submit``: read a workload YAML, sign nothing yet, publish WorkloadSubmitted."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from pydantic import ValidationError

from libs.events import Tenant, WorkloadSpec, WorkloadSubmitted
from libs.events.registry import describe
from libs.platform.publisher import EventPublisher
from libs.platform.settings import Settings


class SubmitError(ValueError):
    """The workload file is unreadable or invalid; nothing was published."""


def load_spec(path: Path) -> WorkloadSpec:
    try:
        return WorkloadSpec.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise SubmitError(f"{path}: {exc}") from None
    except ValidationError as exc:
        raise SubmitError(f"{path}: invalid workload: {describe(exc)}") from None


async def submit_file(path: Path, *, org: str, team: str) -> str:
    spec = load_spec(path)
    settings = Settings()
    workload_id = f"{spec.name}-{uuid.uuid4().hex[:8]}"
    event = WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org=org, team=team), spec=spec,
                              producer="cli")
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as publisher:
        await publisher.publish([event])
    return workload_id
