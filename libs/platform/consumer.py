"""Handling one Kafka record effectively once: decode, dedupe, handle in a transaction, retry, dead-letter.

Poison input never stalls a partition: a record that cannot be decoded, or whose handler keeps failing,
is written to the dead-letter topic (through the outbox, with the error and the original bytes) and the
offset moves on. Infrastructure failures (Postgres unreachable) are not poison: they are retried until
the database is back, without committing the offset.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from dataclasses import dataclass

import asyncpg

from libs.events import DecodeError, Event, MessageDeadLettered, decode
from libs.events.topics import DEAD_LETTER
from libs.platform import telemetry
from libs.platform.unit_of_work import Router, UnitOfWork

log = logging.getLogger("batchyard.consumer")

TRANSIENT = (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.InterfaceError,
             ConnectionError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Record:
    """The parts of a Kafka record the runtime needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


class Consumer:
    """Processes records for one service with its router, pool and retry policy."""

    def __init__(self, *, service: str, namespace: str, pool: asyncpg.Pool, router: Router, allowed: frozenset[str],
                 max_attempts: int, backoff_s: float, metrics: telemetry.ServiceMetrics, on_commit) -> None:
        self.service, self.namespace, self.pool, self.router = service, namespace, pool, router
        self.allowed, self.max_attempts, self.backoff_s = allowed, max_attempts, backoff_s
        self.metrics, self.on_commit = metrics, on_commit

    async def process(self, record: Record) -> str:
        """Handles one record; returns the outcome: handled, duplicate, ignored or dead-lettered."""
        started = time.perf_counter()
        try:
            event = decode(record.value, allowed=self.allowed)
        except DecodeError as exc:
            await self._dead_letter(record, exc.reason, exc.message, attempts=1, event_id=None)
            return "dead-lettered"
        try:
            handler = self.router.route(event.type)
        except KeyError as exc:
            await self._dead_letter(record, "unhandled-type", str(exc), attempts=1, event_id=event.event_id)
            return "dead-lettered"
        outcome = await self._handle_with_retries(record, event, handler)
        self.metrics.observe(event.type, time.perf_counter() - started)
        return outcome

    async def _handle_with_retries(self, record: Record, event: Event, handler) -> str:
        attempt, transient_waits = 0, 0
        while True:
            try:
                with telemetry.consume_span(self.service, event.type, record.headers,
                                            **{"batchyard.event_id": str(event.event_id)}):
                    return await self._handle_once(event, handler)
            except TRANSIENT as exc:
                transient_waits += 1
                delay = min(5.0, self.backoff_s * 2 ** min(transient_waits, 5))
                log.warning("%s: transient failure on %s (%s); retrying in %.1fs", self.service, event.type, exc,
                            delay)
                await asyncio.sleep(delay)
            except Exception as exc:  # noqa: BLE001 - a handler bug or poison payload: bounded retries, then DLQ
                attempt += 1
                if attempt >= self.max_attempts:
                    log.error("%s: %s %s failed %d times, dead-lettering: %r", self.service, event.type,
                              event.event_id, attempt, exc)
                    await self._dead_letter(record, "handler-error", f"{type(exc).__name__}: {exc}",
                                            attempts=attempt, event_id=event.event_id)
                    return "dead-lettered"
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))

    async def _handle_once(self, event: Event, handler) -> str:
        async with self.pool.acquire() as conn:
            uow = UnitOfWork(conn=conn, producer=self.service, namespace=self.namespace, cause=event)
            try:
                async with conn.transaction():
                    fresh = await conn.fetchval(
                        "insert into processed_events(event_id, event_type) values ($1, $2) "
                        "on conflict do nothing returning true", event.event_id, event.type)
                    if not fresh:
                        self.metrics.duplicate()
                        return "duplicate"
                    if handler is None:
                        return "ignored"
                    await handler(event, uow)
            except BaseException:
                await uow.run_on_rollback()
                raise
        await uow.run_after_commit()
        if uow.emitted:
            self.on_commit()
        return "handled"

    async def _dead_letter(self, record: Record, reason: str, error: str, *, attempts: int,
                           event_id: uuid.UUID | None) -> None:
        """Writes the record to the dead-letter topic via the outbox; a redelivered poison record is written once."""
        dead_id = event_id or uuid.uuid5(uuid.NAMESPACE_URL, f"{record.topic}/{record.partition}/{record.offset}")
        letter = MessageDeadLettered(
            service=self.service, source_topic=record.topic, source_partition=record.partition,
            source_offset=record.offset, source_key=record.key.decode(errors="replace") if record.key else None,
            reason=reason, error=error[:8000], original=base64.b64encode(record.value or b"").decode(),
            attempts=attempts)
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    fresh = await conn.fetchval(
                        "insert into dead_letters(event_id, source_topic, reason, error) values ($1,$2,$3,$4) "
                        "on conflict do nothing returning true", dead_id, record.topic, reason, error[:8000])
                    if fresh:
                        uow = UnitOfWork(conn=conn, producer=self.service, namespace=self.namespace)
                        await uow.emit(letter, DEAD_LETTER)
                break
            except TRANSIENT as exc:
                log.warning("%s: cannot record dead letter yet (%s); retrying", self.service, exc)
                await asyncio.sleep(1.0)
        self.metrics.dead_letter(reason)
        self.on_commit()
        log.warning("%s: dead-lettered %s/%d@%d: %s: %s", self.service, record.topic, record.partition,
                    record.offset, reason, error[:300])
