"""The dead-letter record: a message a consumer could not handle, with the error and the original bytes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from libs.events.envelope import Event


MAX_ORIGINAL_BYTES = 262_144  # base64 of this plus the error stays far below Kafka's 1 MiB record limit


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
    original: str = Field(description="Base64 of the original message value (its first MAX_ORIGINAL_BYTES bytes).")
    attempts: int = Field(ge=1)
    original_bytes: int | None = Field(default=None, ge=0, description="Length of the original value in bytes.")
    original_truncated: bool = Field(default=False, description="Whether ``original`` holds only its first "
                                     "MAX_ORIGINAL_BYTES bytes, so the letter itself fits on the topic.")
