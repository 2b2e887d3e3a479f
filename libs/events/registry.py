"""Every event type by name, and decoding raw Kafka values into models with reason-coded errors."""

from __future__ import annotations

import json

from pydantic import ValidationError

from libs.events import cost, deadletter, node, workload
from libs.events.envelope import Event

EVENT_TYPES: dict[str, type[Event]] = {
    model.model_fields["type"].default: model
    for module in (workload, node, cost, deadletter)
    for model in vars(module).values()
    if isinstance(model, type) and issubclass(model, Event) and model is not Event
}


class DecodeError(ValueError):
    """A message that is not a valid event. ``reason`` is a code: not-json, unknown-type, invalid, ..."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def decode(raw: bytes | None, *, allowed: frozenset[str] | None = None) -> Event:
    """Returns the event model for ``raw``; raises DecodeError saying why it is not one."""
    if raw is None:
        raise DecodeError("empty", "message has no value")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("not-json", f"value is not UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DecodeError("not-object", f"value is JSON {type(data).__name__}, not an object")
    kind = data.get("type")
    model = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise DecodeError("unknown-type", f"unknown event type {kind!r}")
    if allowed is not None and kind not in allowed:
        raise DecodeError("wrong-topic", f"event type {kind} does not belong on this topic")
    version = data.get("schema_version", 1)
    if version != model.SCHEMA_VERSION:
        raise DecodeError("unsupported-version", f"{kind} schema_version {version!r}; this reader knows "
                                                  f"{model.SCHEMA_VERSION}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DecodeError("invalid", f"{kind}: {describe(exc)}") from None


def describe(exc: ValidationError, *, limit: int = 5, root: str = "<root>") -> str:
    """Returns a validation error in words: 'field.path: problem; ...' for the first ``limit`` problems."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or root}: {e['msg']}" for e in exc.errors()[:limit])


def encode(event: Event) -> bytes:
    """Returns the JSON bytes of an event (the Kafka value)."""
    return event.model_dump_json().encode()
