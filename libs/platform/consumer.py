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
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
from tenacity import RetryError, retry_if_exception_type, wait_fixed

from libs.events import DecodeError, Event, MessageDeadLettered, decode
from libs.events.deadletter import MAX_ORIGINAL_BYTES
from libs.events.topics import DEAD_LETTER
from libs.platform import retrying, telemetry
from libs.platform.unit_of_work import Handler, Router, UnitOfWork, insert_outbox

log = logging.getLogger("batchyard.consumer")

# A deadlock or serialization failure (SQLSTATE class 40) rolls the whole transaction back and says "try again":
# it is the database's contention, not the record's fault, so it costs no attempt and never dead-letters a record.
TRANSIENT = (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.InterfaceError,
             asyncpg.exceptions.TransactionRollbackError, ConnectionError, OSError, asyncio.TimeoutError)
DEAD_LETTER_PAUSE_S = 1.0  # between attempts to record dead letters while the database is unreachable


def storable(text: str) -> str:
    """Returns ``text`` fit for a PostgreSQL text column: NUL, which PostgreSQL refuses, written as ``\\x00``.

    Error messages quote the hostile input (a field name or dict key of the record); one with a NUL made the
    dead-letter insert fail with CharacterNotInRepertoireError, and the record (a batch service's whole poll
    batch) was acknowledged without a letter (benchmarks.malformed_volume, 200,000 records: 1,949 letters lost)."""
    return text.replace("\x00", "\\x00")


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

    def __init__(self, *, service: str, namespace: str, pool: asyncpg.Pool, router: Router,
                 allowed: Mapping[str, frozenset[str]] | frozenset[str], max_attempts: int, backoff_s: float,
                 metrics: telemetry.ServiceMetrics, on_commit) -> None:
        """``allowed``: per (qualified) topic, the event types it carries (the catalog's); a record of another
        type there is dead-lettered wrong-topic even when the service reads that type from another topic. A plain
        set allows its types on every topic."""
        self.service, self.namespace, self.pool, self.router = service, namespace, pool, router
        self.allowed, self.max_attempts, self.backoff_s = allowed, max_attempts, backoff_s
        self.metrics, self.on_commit = metrics, on_commit

    async def process(self, record: Record) -> str:
        """Handles one record; returns the outcome: handled, duplicate, ignored or dead-lettered."""
        started = time.perf_counter()
        routed = await self._route(record)
        if routed is None:
            return "dead-lettered"
        event, handler = routed
        outcome = await self._handle_with_retries(record, event, handler)
        self.metrics.observe(event.type, time.perf_counter() - started)
        return outcome

    async def process_batch(self, records: list[Record]) -> list[str]:
        """Handles records in one transaction (one inbox insert for all); returns each record's outcome.

        Undecodable or unroutable records are dead-lettered first, as in ``process``. If the batch transaction
        fails for any reason, nothing of it was committed and every record is redone on its own with
        ``process``'s retries and dead-lettering, so one poison record costs a batch its speed, not its data.
        """
        started, outcomes, ready, letters = time.perf_counter(), [""] * len(records), [], []
        for i, record in enumerate(records):
            routed = self._routed(record)
            if isinstance(routed, Letter):
                outcomes[i] = "dead-lettered"
                letters.append(routed)
            else:
                ready.append((i, record, *routed))
        await self._dead_letter_all(letters)  # a flood of garbage costs one transaction per poll batch
        if not ready:
            return outcomes
        try:
            for (i, *_), outcome in zip(ready, await self._handle_batch_once(ready)):
                outcomes[i] = outcome
        except Exception as exc:  # noqa: BLE001 - redo one by one: bounded retries and dead letters as usual
            log.warning("%s: batch of %d failed (%r); handling its records one by one", self.service, len(ready), exc)
            for i, record, event, handler in ready:
                outcomes[i] = await self._handle_with_retries(record, event, handler)
        elapsed = (time.perf_counter() - started) / len(records)
        for _, _, event, _ in ready:
            self.metrics.observe(event.type, elapsed)
        return outcomes

    async def _route(self, record: Record) -> tuple[Event, Handler | None] | None:
        """Returns the record's event and its handler (None: ignored); dead-letters a record that cannot be
        decoded or whose type has no route, and returns None for it."""
        routed = self._routed(record)
        if isinstance(routed, Letter):
            await self._dead_letter_all([routed])
            return None
        return routed

    def _routed(self, record: Record) -> tuple[Event, Handler | None] | Letter:
        """Returns the record's event and its handler (None: ignored), or the dead letter of a record that cannot
        be decoded or whose type has no route."""
        try:
            event = decode(record.value, allowed=self._allowed_on(record.topic))
        except DecodeError as exc:
            return Letter(record, exc.reason, exc.message, 1, None)
        except Exception as exc:  # noqa: BLE001 - a decoder gap must not lose the record unrecorded (or its batch)
            log.error("%s: decoding %s/%d@%d raised %r", self.service, record.topic, record.partition, record.offset,
                      exc)
            return Letter(record, "undecodable", f"{type(exc).__name__}: {exc}", 1, None)
        try:
            return event, self.router.route(event.type)
        except KeyError as exc:
            return Letter(record, "unhandled-type", str(exc), 1, event.event_id)

    def _allowed_on(self, topic: str) -> frozenset[str]:
        """Returns the event types a record on ``topic`` may carry (none, on a topic the service does not read)."""
        if isinstance(self.allowed, frozenset):
            return self.allowed
        return self.allowed.get(topic, frozenset())

    async def _handle_batch_once(self, ready: list) -> list[str]:
        outcomes, uows, rows, spans = [], [], [], []
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    fresh = {row[0] for row in await conn.fetch(
                        "insert into processed_events(event_id, event_type) select * from unnest($1::uuid[], "
                        "$2::text[]) on conflict do nothing returning event_id",
                        [e.event_id for _, _, e, _ in ready], [e.type for _, _, e, _ in ready])}
                    run: list = []  # consecutive fresh events whose types share one batch handler
                    for _, record, event, handler in ready:
                        outcome = self._triage(event, handler, fresh)
                        outcomes.append(outcome)
                        if outcome != "handled":
                            continue
                        uow = UnitOfWork(conn=conn, producer=self.service, namespace=self.namespace, cause=event,
                                         outbox_rows=rows)
                        uows.append(uow)
                        if run and self._batch_handler(run[0][1].type) != self._batch_handler(event.type):
                            await self._flush_run(run)
                        if event.type in self.router.batch_handlers:
                            span, uow.trace = telemetry.start_consume_span(  # its emits continue its own trace
                                self.service, event.type, record.headers,
                                **{"batchyard.event_id": str(event.event_id)})
                            spans.append(span)
                            run.append((record, event, uow))
                            continue
                        await self._flush_run(run)
                        with telemetry.consume_span(self.service, event.type, record.headers,
                                                    **{"batchyard.event_id": str(event.event_id)}):
                            await handler(event, uow)
                    await self._flush_run(run)
                    await insert_outbox(conn, rows)
            except BaseException as exc:
                for span in spans:
                    span.record_exception(exc)
                for uow in uows:
                    await uow.run_on_rollback()
                raise
            finally:
                for span in spans:
                    span.end()
        for uow in uows:
            await uow.run_after_commit()
        if rows:
            self.on_commit()
        return outcomes

    def _triage(self, event: Event, handler, fresh: set) -> str:
        """Returns what becomes of an event in a batch: duplicate (seen before or earlier in it), ignored, handled."""
        if event.event_id not in fresh:
            self.metrics.duplicate()
            return "duplicate"
        fresh.discard(event.event_id)
        return "ignored" if handler is None else "handled"

    def _batch_handler(self, event_type: str):
        """Returns the router's batch handler of ``event_type`` (None: it has none). Types that share one handler
        share a run: a service that handles placements and run ends in one go (cost reporting) gets them as one
        run, however they interleave on its topics."""
        return self.router.batch_handlers.get(event_type)

    async def _flush_run(self, run: list) -> None:
        """Hands a run of events to the batch handler their types share, then empties the run."""
        if not run:
            return
        handler = self.router.batch_handlers[run[0][1].type]
        await handler([e for _, e, _ in run], [u for _, _, u in run])
        run.clear()

    async def _handle_with_retries(self, record: Record, event: Event, handler) -> str:
        """Handles ``event``; returns the outcome. A transient failure (the database away) is retried without end
        and uses up no attempt; any other failure is retried until ``max_attempts`` attempts failed, then the
        record is dead-lettered."""
        transient = retrying.forever(retry=retry_if_exception_type(TRANSIENT),
                                     wait=retrying.transient_backoff(self.backoff_s),
                                     before_sleep=retrying.warn(log, "%s: transient failure on %s %s", self.service,
                                                               event.type, event.event_id))

        async def attempt() -> str:  # one attempt: as many tries as the database needs to come back
            return await transient(self._handle_traced, record, event, handler)

        failing = retrying.at_most(self.max_attempts, wait=retrying.failure_backoff(self.backoff_s),
                                   before_sleep=retrying.warn(log, "%s: %s %s failed", self.service, event.type,
                                                             event.event_id, attempts=self.max_attempts))
        try:
            return await failing(attempt)
        except RetryError as gave_up:
            attempts, exc = gave_up.last_attempt.attempt_number, gave_up.last_attempt.exception()
        log.error("%s: %s %s failed %d times, dead-lettering: %r", self.service, event.type, event.event_id,
                  attempts, exc)
        await self._dead_letter(record, "handler-error", f"{type(exc).__name__}: {exc}", attempts=attempts,
                                event_id=event.event_id)
        return "dead-lettered"

    async def _handle_traced(self, record: Record, event: Event, handler) -> str:
        with telemetry.consume_span(self.service, event.type, record.headers,
                                    **{"batchyard.event_id": str(event.event_id)}):
            return await self._handle_once(event, handler)

    async def _handle_once(self, event: Event, handler) -> str:
        if handler is None:  # changes nothing, so a redelivery is harmless: no transaction, no inbox row (a topic's
            return "ignored"  # events a service ignores cost it nothing: 3,000 WorkloadPending slowed the fleet)
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
        await self._dead_letter_all([Letter(record, reason, error, attempts, event_id)])

    async def _dead_letter_all(self, letters: list[Letter]) -> None:
        """Writes ``letters`` to the dead-letter topic via the outbox in one transaction (retried while the
        database is unreachable); a letter whose record was dead-lettered before (a redelivery) is written once."""
        if not letters:
            return
        recording = retrying.forever(retry=retry_if_exception_type(TRANSIENT), wait=wait_fixed(DEAD_LETTER_PAUSE_S),
                                     before_sleep=retrying.warn(log, "%s: cannot record dead letters yet",
                                                                self.service))
        await recording(self._record_letters, letters)
        for letter in letters:
            self.metrics.dead_letter(letter.reason)
            r = letter.record
            log.warning("%s: dead-lettered %s/%d@%d: %s: %s", self.service, r.topic, r.partition, r.offset,
                        letter.reason, letter.error[:300])
        self.on_commit()

    async def _record_letters(self, letters: list[Letter]) -> None:
        """Inserts ``letters`` into dead_letters and emits those new there, in one transaction."""
        rows = [(letter.dead_id, letter.record.topic, letter.reason, letter.error[:8000]) for letter in letters]
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = {row[0] for row in await conn.fetch(
                "insert into dead_letters(event_id, source_topic, reason, error) select * from "
                "unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) on conflict do nothing "
                "returning event_id", *map(list, zip(*rows)))}
            uow = UnitOfWork(conn=conn, producer=self.service, namespace=self.namespace)
            for letter in letters:
                if letter.dead_id in fresh:
                    fresh.discard(letter.dead_id)  # the same record twice in one batch: once
                    await uow.emit(letter.event(self.service), DEAD_LETTER)


@dataclass(frozen=True)
class Letter:
    """A record on its way to the dead-letter topic, with why."""

    record: Record
    reason: str
    error: str  # storable: a NUL written out as backslash-x00 (see ``storable``)
    attempts: int
    event_id: uuid.UUID | None  # the event's id if it decoded; else the letter is named by the record's offset

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", storable(self.error))

    @property
    def dead_id(self) -> uuid.UUID:
        r = self.record
        return self.event_id or uuid.uuid5(uuid.NAMESPACE_URL, f"{r.topic}/{r.partition}/{r.offset}")

    def event(self, service: str) -> MessageDeadLettered:
        """Returns the letter as an event (the original's first MAX_ORIGINAL_BYTES: a near-1 MiB original whole
        would be too large for Kafka and block the outbox behind it)."""
        r, value = self.record, self.record.value or b""
        return MessageDeadLettered(
            service=service, source_topic=r.topic, source_partition=r.partition, source_offset=r.offset,
            source_key=r.key[:256].decode(errors="replace") if r.key else None, reason=self.reason,
            error=self.error[:8000], original=base64.b64encode(value[:MAX_ORIGINAL_BYTES]).decode(),
            attempts=self.attempts, original_bytes=len(value), original_truncated=len(value) > MAX_ORIGINAL_BYTES)
