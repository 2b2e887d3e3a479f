"""JSON Schema export of every event, and the backward-compatibility rule between schema versions.

Files are ``schemas/events/<Type>.v<N>.json``. Within one version a change must keep old messages valid:
no new required field, no removed or retyped field, no narrowed enum. A breaking change bumps
``SCHEMA_VERSION`` and leaves the old file in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from libs.events.registry import EVENT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"


def current_schemas() -> dict[str, dict[str, Any]]:
    """Returns file name → JSON Schema for every event model as the code defines it now."""
    return {f"{name}.v{model.SCHEMA_VERSION}.json": model.model_json_schema(mode="validation")
            for name, model in sorted(EVENT_TYPES.items())}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Writes every current schema into ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in current_schemas().items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Returns how ``new`` would reject data that ``old`` accepted (empty when backward compatible)."""
    problems: list[str] = []
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    _compare(_resolve(old, old_defs), _resolve(new, new_defs), old_defs, new_defs, path or "<root>", problems,
             set())
    return problems


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    return node


def _compare(old, new, old_defs, new_defs, path, problems, seen) -> None:
    if (id(old), id(new)) in seen:
        return
    seen.add((id(old), id(new)))
    if old.get("type") != new.get("type") and "type" in new:
        problems.append(f"{path}: type changed from {old.get('type')} to {new.get('type')}")
        return
    if "enum" in new and not set(old.get("enum", [])) <= set(new["enum"]):
        problems.append(f"{path}: enum no longer allows {sorted(set(old.get('enum', [])) - set(new['enum']))}")
    if "const" in new and old.get("const") != new["const"]:
        problems.append(f"{path}: const changed from {old.get('const')!r} to {new['const']!r}")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(added_required):
        problems.append(f"{path}.{name}: newly required")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in sorted(old_props):
        if name not in new_props:
            problems.append(f"{path}.{name}: removed")
            continue
        _compare(_resolve(old_props[name], old_defs), _resolve(new_props[name], new_defs), old_defs, new_defs,
                 f"{path}.{name}", problems, seen)
    if "items" in old and "items" in new:
        _compare(_resolve(old["items"], old_defs), _resolve(new["items"], new_defs), old_defs, new_defs,
                 f"{path}[]", problems, seen)
    old_any = [_resolve(o, old_defs) for o in old.get("anyOf", [])]
    new_any = [_resolve(n, new_defs) for n in new.get("anyOf", [])]
    if old_any and new_any:
        for option in old_any:
            twins = [n for n in new_any if n.get("type") == option.get("type")]
            if not twins:
                problems.append(f"{path}: no longer accepts {option.get('type')}")
            else:
                _compare(option, twins[0], old_defs, new_defs, path, problems, seen)
