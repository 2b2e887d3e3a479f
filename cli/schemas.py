"""Exports event JSON Schemas and each service's AsyncAPI document into schemas/."""

from __future__ import annotations

import json
from pathlib import Path

from cli.registry import SERVICES, create_app
from libs.events.schemas import SCHEMA_DIR, export
from libs.platform.settings import Settings

ASYNCAPI_DIR = SCHEMA_DIR.parent / "asyncapi"


def asyncapi_document(service: str) -> dict:
    """Returns the AsyncAPI 3.0 document of one service's FastStream app (no broker connection needed)."""
    settings = Settings(kafka_bootstrap="kafka:9092", database_url="postgresql://unused")
    app = create_app(service, settings)
    return app.schema.to_specification().to_jsonable()


def render(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def export_all() -> list[Path]:
    written = export()
    ASYNCAPI_DIR.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        path = ASYNCAPI_DIR / f"{service}.json"
        path.write_text(render(asyncapi_document(service)))
        written.append(path)
    return written
