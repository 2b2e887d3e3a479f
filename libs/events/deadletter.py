"""The dead-letter record: a message a consumer could not handle, with the error and the original bytes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from libs.events.envelope import Event


class MessageDeadLettered(Event):
    """``original`` is the exact value bytes (base64) that failed; ``reason`` is a machine-readable code."""

    type: Literal["MessageDeadLettered"] = "MessageDeadLettered"
    service: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: str | None = None
    reason: str = Field(max_length=64)
    error: str = Field(max_length=8000)
    original: str = Field(description="Base64 of the original message value.")
    attempts: int = Field(ge=1)
