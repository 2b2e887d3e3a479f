"""Each service's AsyncAPI document in schemas/asyncapi is what its FastStream app generates."""

from __future__ import annotations

import json

import pytest

from cli.registry import SERVICES
from cli.schemas import ASYNCAPI_DIR, asyncapi_document, render


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_asyncapi_document_is_current(service):
    path = ASYNCAPI_DIR / f"{service}.json"
    assert path.exists(), f"run `task schemas` to export {path.name}"
    assert path.read_text() == render(asyncapi_document(service)), f"{path.name} drifted: run `task schemas`"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_asyncapi_document_names_every_topic_the_service_uses(service):
    from cli.registry import definition
    doc = json.loads((ASYNCAPI_DIR / f"{service}.json").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    d = definition(service)
    for topic in (*d.consumes, *d.produces):
        assert any(topic.name in a for a in addresses), f"{topic.name} missing from {service}'s AsyncAPI"
