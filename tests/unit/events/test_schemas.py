"""Exported schemas match the models, and a model change never breaks the committed schema version."""

from __future__ import annotations

import copy
import json

import pytest

from libs.events.schemas import SCHEMA_DIR, breaking_changes, current_schemas, render

CURRENT = current_schemas()


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_exported_schema_matches_the_model(name):
    path = SCHEMA_DIR / name
    assert path.exists(), f"{name} is not exported: run `task schemas`"
    assert path.read_text() == render(CURRENT[name]), f"{name} drifted from its model: run `task schemas`"


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.json")), ids=lambda p: p.name)
def test_current_model_reads_everything_the_committed_version_accepted(path):
    committed = json.loads(path.read_text())
    current = CURRENT.get(path.name)
    if current is None:
        pytest.skip(f"{path.name} is an older version kept for readers")
    assert breaking_changes(committed, current) == [], (
        f"{path.name}: breaking change; bump SCHEMA_VERSION instead")


def _submitted() -> dict:
    return copy.deepcopy(CURRENT["WorkloadSubmitted.v1.json"])


def test_a_new_required_field_is_breaking():
    new = _submitted()
    new["required"] = [*new.get("required", []), "token"]
    assert breaking_changes(_submitted(), new) == ["<root>.token: newly required"]


def test_a_removed_field_is_breaking():
    new = _submitted()
    del new["properties"]["token"]
    assert breaking_changes(_submitted(), new) == ["<root>.token: removed"]


def test_a_narrowed_enum_is_breaking():
    old = copy.deepcopy(CURRENT["NodeRepairTransitioned.v1.json"])
    new = copy.deepcopy(old)
    new["properties"]["to_state"]["enum"] = ["healthy"]
    assert any("enum no longer allows" in p for p in breaking_changes(old, new))


def test_a_new_optional_field_is_compatible():
    new = _submitted()
    new["properties"]["note"] = {"type": "string", "default": ""}
    assert breaking_changes(_submitted(), new) == []


def test_a_retyped_nested_field_is_breaking():
    old = CURRENT["WorkloadSubmitted.v1.json"]
    new = _submitted()
    new["$defs"]["Resources"]["properties"]["gpu"]["type"] = "string"
    assert breaking_changes(old, new) == ["<root>.spec.pod_sets[].requests.gpu: type changed from integer to string"]
