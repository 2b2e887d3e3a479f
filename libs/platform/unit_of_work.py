"""The transaction a handler runs in: its state changes, its outgoing events and its inbox entry commit together."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from libs.events import Event, Topic, encode, topic_for
from libs.platform import telemetry
from libs.platform.store import columns


OUTBOX_INSERT = "insert into outbox(topic, key, value, headers) values ($1, $2, $3, $4::jsonb)"
# Many rows as one statement, numbered (seq) in the order given: the relay publishes by seq, and Kafka keeps a
# key's order only if the outbox does. PostgreSQL runs one statement instead of one per row (executemany).
OUTBOX_INSERT_MANY = ("insert into outbox(topic, key, value, headers) select t, k, v, h::jsonb from "
                      "unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[]) with ordinality as r(t, k, v, h, n) "
                      "order by n")


async def insert_outbox(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """Writes outbox rows (topic, key, value, headers JSON) in one statement, in their order."""
    if len(rows) == 1:
        await conn.execute(OUTBOX_INSERT, *rows[0])
    elif rows:
        await conn.execute(OUTBOX_INSERT_MANY, *columns(rows))


@dataclass
class UnitOfWork:
    """Handed to every handler. ``emit`` writes to the outbox inside the open transaction."""

    conn: asyncpg.Connection
    producer: str  # stamped on every emitted event
    namespace: str  # topic namespace
    cause: Event | None = None  # the event being handled; emitted events inherit its tenant and subject
    _after_commit: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    _on_rollback: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    emitted: list[Event] = field(default_factory=list)
    # Batch mode: emit queues its outbox row here and the consumer inserts the batch's rows in one round trip
    # before the commit (same transaction, same order). None: emit inserts at once.
    outbox_rows: list[tuple] | None = None
    # Batch mode: the W3C context of the cause's own consumer span, so each event's emits continue its trace.
    trace: dict[str, str] | None = None

    async def emit(self, event: Event, topic: Topic | None = None, trace: dict[str, str] | None = None) -> Event:
        """Queues ``event`` for publication once this transaction commits; returns it as stamped.

        ``trace`` is the W3C context to carry (as stored with the workload); default: the current span's.
        """
        stamped = event.caused_by(self.cause, self.producer) if self.cause else \
            event.model_copy(update={"producer": self.producer})
        target = (topic or topic_for(stamped)).qualified(self.namespace)
        context = trace if trace is not None else self.trace if self.trace is not None else telemetry.inject()
        headers = {**context, "event-type": stamped.type,
                   "schema-version": str(stamped.schema_version), "producer": self.producer}
        row = (target, stamped.key, encode(stamped), json.dumps(headers))
        if self.outbox_rows is not None:
            self.outbox_rows.append(row)
        else:
            await self.conn.execute(OUTBOX_INSERT, *row)
        self.emitted.append(stamped)
        return stamped

    def trace_context(self) -> str:
        """Returns the trace context of the event being handled as JSON, to store with a workload and emit under
        later: the batch's span for this event in batch mode, else the current span's."""
        return json.dumps(self.trace if self.trace is not None else telemetry.inject())

    def after_commit(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        """Runs ``hook`` once the transaction has committed (e.g. apply a change to an in-memory snapshot)."""
        self._after_commit.append(hook)

    def on_rollback(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        """Runs ``hook`` if the transaction fails (e.g. rebuild an in-memory snapshot changed optimistically)."""
        self._on_rollback.append(hook)

    async def run_after_commit(self) -> None:
        await _run_all(self._after_commit)

    async def run_on_rollback(self) -> None:
        await _run_all(self._on_rollback)


async def _run_all(hooks) -> None:
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):  # a plain callable may return anything (a lambda's tuple, say): not awaited
            await result


Handler = Callable[[Event, UnitOfWork], Awaitable[None]]
# Handles consecutive events of one type in one go (batch services): one UnitOfWork per event, one transaction.
BatchHandler = Callable[[list[Event], list[UnitOfWork]], Awaitable[None]]


@dataclass(frozen=True)
class Router:
    """The explicit map of event type → handler for one service, and the types it knowingly ignores."""

    handlers: dict[str, Handler]
    ignored: frozenset[str] = frozenset()
    # Optional, for services with ``ServiceDefinition.batch``: used instead of ``handlers`` inside a batch.
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)

    def route(self, event_type: str) -> Handler | None:
        """Returns the handler for ``event_type``; None for ignored types; KeyError for unexpected ones."""
        if event_type in self.handlers:
            return self.handlers[event_type]
        if event_type in self.ignored:
            return None
        raise KeyError(f"no handler for {event_type} and it is not listed as ignored")
