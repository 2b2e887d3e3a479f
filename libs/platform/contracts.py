"""AsyncAPI payload schemas for topics: the union of the topic's events, inlined for FastStream's generator."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, WithJsonSchema

from libs.events import Topic


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(dict(defs[node["$ref"].split("/")[-1]]), defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def payload_schema(topic: Topic) -> dict[str, Any]:
    """Returns a self-contained JSON Schema of any event on ``topic`` (discriminated by ``type``)."""
    events = topic.events
    union = events[0] if len(events) == 1 else Annotated[Union[events], Field(discriminator="type")]  # noqa: UP007
    schema = TypeAdapter(union).json_schema()
    return _inline(schema, schema.pop("$defs", {}))


def raw_payload(topics: tuple[Topic, ...]) -> Any:
    """Returns a handler annotation that receives raw bytes but documents the topics' events in AsyncAPI.

    The runtime decodes and validates itself, so that invalid input is dead-lettered with its original bytes
    instead of failing inside the framework.
    """
    schemas = [payload_schema(t) for t in topics]
    doc = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    return Annotated[bytes, WithJsonSchema(doc)]
