"""The envelope every batchyard event carries, and the base class of all event models.

Every event is a frozen pydantic model. The envelope fields (id, type, schema version, time, producer,
tenant, subject) sit at the top level of the JSON body; the W3C trace context travels in Kafka headers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME = r"^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$"  # DNS-label-like names for teams, queues, pools


class Frozen(BaseModel):
    """Base for immutable contract records; unknown fields are ignored so older readers accept newer writers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Tenant(Frozen):
    """Who owns a workload: the org and the team inside it."""

    org: str = Field(pattern=NAME, description="Organisation that pays for the work.")
    team: str = Field(pattern=NAME, description="Team inside the org that submitted the work.")

    def __str__(self) -> str:
        return f"{self.org}/{self.team}"


class Event(Frozen):
    """Envelope fields shared by every event. Subclasses add ``type`` (a Literal) and their payload."""

    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Unique per event; consumers dedupe on it.")
    type: str = Field(description="The event's type name; selects the model.")
    schema_version: int = Field(default=1, ge=1, description="Version of this event type's schema.")
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC), description="When it happened (UTC).")
    producer: str = Field(default="unknown", max_length=64, description="The service or client that emitted it.")
    tenant: Tenant | None = Field(default=None, description="Owner of the subject, when it has one.")
    workload_id: str | None = Field(default=None, max_length=128, description="Subject, for workload events.")
    node_id: str | None = Field(default=None, max_length=128, description="Subject, for node events.")

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone")
        return value

    @property
    def key(self) -> bytes:
        """Returns the Kafka key: the workload id, else the node id, else the event id."""
        return (self.workload_id or self.node_id or str(self.event_id)).encode()

    def caused_by(self, cause: "Event", producer: str) -> "Event":
        """Returns a copy stamped by ``producer`` and carrying the cause's tenant and subject where unset."""
        return self.model_copy(update={
            "producer": producer,
            "tenant": self.tenant or cause.tenant,
            "workload_id": self.workload_id or cause.workload_id,
            "node_id": self.node_id or cause.node_id,
        })
