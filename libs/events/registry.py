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
    if isinstance(model, type) and issubclass(model, Event) and isinstance(model.model_fields["type"].default, str)
}  # abstract bases (Event, node._ClusterEvent) name no type


class DecodeError(ValueError):
    """A message that is not a valid event. ``reason`` is a code: not-json, unknown-type, invalid, ..."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


MAX_VALUE_BYTES = 1_048_576  # Kafka's default max.message.bytes: no event of ours comes near it


def decode(raw: bytes | None, *, allowed: frozenset[str] | None = None) -> Event:
    """Returns the event model for ``raw``; raises DecodeError saying why it is not one, and nothing else: hostile
    bytes (JSON nested past the interpreter's recursion limit, integers of thousands of digits, a value larger
    than any topic should carry) are refused with a reason code like any other malformed record."""
    if raw is None:
        raise DecodeError("empty", "message has no value")
    if len(raw) > MAX_VALUE_BYTES:
        raise DecodeError("too-large", f"value is {len(raw):,} bytes; an event is at most {MAX_VALUE_BYTES:,}")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise DecodeError("too-deep", "value nests JSON arrays or objects too deeply to parse") from None
    except ValueError as exc:  # not UTF-8, not JSON, or an integer beyond Python's digit limit
        raise DecodeError("not-json", f"value is not UTF-8 JSON ({str(exc)[:200]})") from None
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
    except (RecursionError, ValueError, TypeError) as exc:  # a validator meeting what JSON allows but we never send
        raise DecodeError("invalid", f"{kind}: {type(exc).__name__}: {str(exc)[:200]}") from None


def describe(exc: ValidationError, *, limit: int = 5, root: str = "<root>") -> str:
    """Returns a validation error in words: 'field.path: problem; ...' for the first ``limit`` problems."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or root}: {e['msg']}" for e in exc.errors()[:limit])


def encode(event: Event) -> bytes:
    """Returns the JSON bytes of an event (the Kafka value)."""
    return event.model_dump_json().encode()
