"""The app factory every service uses: a FastStream Kafka app with effectively-once handling.

``create_app(settings, definition)`` wires: topic catalog → Postgres pool and migrations → the service's
own start hook (which returns its router) → one Kafka subscriber over the service's topics (offsets
committed only after handling) → the outbox relay (acks=all, idempotent producer).
"""


import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError
from aiokafka.structs import ConsumerRecord
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI

from libs.events import Topic
from libs.platform import startup_wait, store, telemetry
from libs.platform.consumer import Consumer, Record
from libs.platform.contracts import raw_payload
from libs.platform.gauges import Gauges
from libs.platform.outbox import OutboxRelay
from libs.platform.settings import Settings
from libs.platform.topics_admin import ensure_topics
from libs.platform.unit_of_work import Router

log = logging.getLogger("batchyard.service")
POOL_CLOSE_S = 5.0  # at shutdown, how long in-flight transactions get before their connections are cut
# A broker that is down or still electing its controller: worth waiting out at start-up (startup_wait).
KAFKA_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError, OSError)


@dataclass
class Runtime:
    """What a running service shares with its hooks and handlers."""

    settings: Settings
    broker: KafkaBroker
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    metrics: telemetry.ServiceMetrics | None = None
    service: Any = None  # the service's own object (its handlers), set by its start hook; tests reach it here
    tasks: list[asyncio.Task] = field(default_factory=list)  # its background work, cancelled at stop
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # run at stop, newest first

    def spawn(self, work: Awaitable[None], name: str) -> asyncio.Task:
        """Runs ``work`` in the background while the service runs; it is cancelled (and awaited) at stop."""
        task = asyncio.create_task(work, name=name)
        self.tasks.append(task)
        return task

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Runs ``cleanup`` at stop, after the background tasks ended (the last registered runs first)."""
        self.cleanups.append(cleanup)

    def watch(self, gauges: Gauges) -> None:
        """Keeps a service's observable gauges fresh while it runs, when it serves metrics at all."""
        if self.settings.metrics_port:
            self.tasks.append(gauges.start())


class ServiceApp(FastStream):
    """A service's FastStream app, with the running service's Runtime (tests and the CLI reach the service here)."""

    def __init__(self, runtime: Runtime, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.runtime = runtime


@dataclass(frozen=True)
class ServiceDefinition:
    """A service: its name, the topics it reads and writes, and how it builds its router at start-up."""

    name: str
    consumes: tuple[Topic, ...]
    produces: tuple[Topic, ...]
    service_dir: Path | None
    start: Callable[[Runtime], Awaitable[Router]]
    stop: Callable[[Runtime], Awaitable[None]] | None = None
    description: str = ""
    # Handle each poll batch (up to Settings.batch_max_records) in one transaction and commit its offsets once;
    # a failing batch is redone record by record. Handlers must not assume one transaction per event.
    batch: bool = False
    # One live consumer at a time (leader-elected services): join as a static group member whose instance id is
    # shared by every instance, so a new leader takes the dead one's partitions at once (Kafka fences the old
    # member) instead of after the session timeout.
    static_member: bool = False

    def group_instance_id(self, settings: Settings) -> str | None:
        """Returns the static group.instance.id, or None for an ordinary (dynamic) member."""
        return f"{settings.group_id}.leader" if self.static_member else None


def kafka_security(settings: Settings):
    """Returns FastStream's security object for the configured protocol (None for PLAINTEXT)."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    sec = settings.kafka_security
    context = sec.ssl_context()
    if sec.security_protocol.startswith("SASL"):
        kind = {"SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512, "PLAIN": SASLPlaintext}
        password = sec.sasl_password.get_secret_value() if sec.sasl_password else ""
        return kind[sec.sasl_mechanism or "SCRAM-SHA-512"](sec.sasl_username or "", password, ssl_context=context,
                                                           use_ssl=context is not None)
    return BaseSecurity(ssl_context=context) if context else None


def make_broker(settings: Settings) -> KafkaBroker:
    """Returns a KafkaBroker whose producer waits for all replicas and is idempotent, and batches what the outbox
    relay sends (a few ms of linger: fewer, larger produce requests cost a tenth less CPU per event).

    The bootstrap list is split on commas: FastStream takes a string as one server, so 'a:9092,b:9092' would be
    a single unreachable host (found by the broker-loss test, the first run against several brokers)."""
    servers = [server.strip() for server in settings.kafka_bootstrap.split(",") if server.strip()]
    return KafkaBroker(servers, acks="all", enable_idempotence=True,
                       linger_ms=settings.kafka_linger_ms, max_batch_size=settings.kafka_max_batch_bytes,
                       client_id=f"batchyard-{settings.service}", security=kafka_security(settings),
                       log_level=logging.DEBUG)  # per-message "Received/Processed" lines only at DEBUG


def create_app(settings: Settings, definition: ServiceDefinition) -> ServiceApp:
    """Returns the FastStream app of one service (its AsyncAPI document included)."""
    settings = settings.for_service(definition.name)
    broker = make_broker(settings)
    runtime = Runtime(settings=settings, broker=broker)
    names = [t.qualified(settings.topic_namespace) for t in definition.consumes]
    allowed = allowed_types(definition, settings.topic_namespace)
    payload = raw_payload(definition.consumes)  # evaluated here: FastStream reads the real annotation object

    if definition.batch:
        # each record is still one event: the batch's annotation documents the per-record schema
        _subscribe_batches(broker, runtime, definition, names, Annotated[(list[bytes], *payload.__metadata__)])
    else:
        @broker.subscriber(*names, group_id=settings.group_id, ack_policy=AckPolicy.ACK,
                           group_instance_id=definition.group_instance_id(settings),
                           auto_offset_reset="earliest", decoder=_raw_body, parser=tolerant_parser,
                           max_poll_records=200, title=f"{definition.name}:in",
                           description=f"Events {definition.name} consumes.")
        async def on_record(body: payload, message: KafkaMessage) -> None:
            await runtime.consumer.process(record_of(message.raw_message))

    for topic in definition.produces:
        broker.publisher(topic.qualified(settings.topic_namespace), schema=raw_payload((topic,)),
                         title=f"{definition.name}:out:{topic.name}", description=topic.description)

    async def startup() -> None:
        await _start(runtime, definition, allowed)

    async def relay() -> None:
        runtime.relay.start()  # the producer is connected only once the broker has started

    async def shutdown() -> None:
        await _stop(runtime, definition)

    async def release() -> None:
        await _release(runtime)

    spec = AsyncAPI(broker, title=f"batchyard {definition.name}", version="1",
                    description=definition.description or None)
    return ServiceApp(runtime, broker, on_startup=[startup], after_startup=[relay], on_shutdown=[shutdown],
                      after_shutdown=[release], specification=spec)


def allowed_types(definition: ServiceDefinition, namespace: str) -> dict[str, frozenset[str]]:
    """Returns, per qualified topic the service reads, the event types that topic carries: a record of another
    type there is dead-lettered wrong-topic, even where the service reads that type from another topic."""
    return {t.qualified(namespace): t.event_names for t in definition.consumes}


async def _raw_body(message, original=None) -> bytes:
    return message.body


def record_of(raw: ConsumerRecord) -> Record:
    """Returns the runtime's view of a Kafka record: its value exactly as it came (None stays None, so a null
    value is dead-lettered 'empty' by every service alike), headers decoded leniently (a header is never poison)."""
    return Record(topic=raw.topic, partition=raw.partition, offset=raw.offset, key=raw.key, value=raw.value,
                  headers={k: v.decode(errors="replace") if isinstance(v, bytes) else str(v)
                           for k, v in raw.headers or ()})


def _utf8_headers(raw: ConsumerRecord) -> ConsumerRecord:
    """Returns the record with any header value that is not UTF-8 replaced by its lenient decoding."""
    try:
        for _, value in raw.headers or ():
            (value or b"").decode()
        return raw
    except UnicodeDecodeError:
        return dataclasses.replace(raw, headers=[(k, (v or b"").decode(errors="replace").encode())
                                                 for k, v in raw.headers])


async def tolerant_parser(message, original_parser):
    """FastStream's parser, after making every header value UTF-8.

    FastStream decodes header values strictly; one that is not UTF-8 raised in its parser, before our handler,
    and with acknowledgement after handling the record (for the batch services, its whole poll batch of up to
    batch_max_records, good records included) was committed unhandled and without a dead letter (found by
    benchmarks.malformed_volume). The values the handlers see are decoded leniently anyway (record_of)."""
    if isinstance(message, (tuple, list)):  # a poll batch (a list from FastStream's test broker)
        return await original_parser(type(message)(_utf8_headers(r) for r in message))
    return await original_parser(_utf8_headers(message))


def _subscribe_batches(broker: KafkaBroker, runtime: Runtime, definition: ServiceDefinition, names: list[str],
                       payload) -> None:
    """Subscribes one handler per poll batch: offsets are committed once the whole batch is handled."""
    settings = runtime.settings

    async def on_batch(body, message: KafkaMessage) -> None:
        await runtime.consumer.process_batch([record_of(r) for r in message.raw_message])

    on_batch.__annotations__["body"] = payload  # FastStream reads the real annotation object
    broker.subscriber(*names, group_id=settings.group_id, ack_policy=AckPolicy.ACK, auto_offset_reset="earliest",
                      group_instance_id=definition.group_instance_id(settings), decoder=_raw_body,
                      parser=tolerant_parser, batch=True,
                      max_records=settings.batch_max_records,
                      batch_timeout_ms=settings.batch_timeout_ms, title=f"{definition.name}:in",
                      description=f"Events {definition.name} consumes.")(on_batch)


async def _start(runtime: Runtime, definition: ServiceDefinition, allowed: dict[str, frozenset[str]]) -> None:
    settings = runtime.settings
    span_file = open(settings.spans_file, "a") if settings.spans_file else None  # noqa: SIM115 - lives with the process
    telemetry.setup(settings.service, span_file=span_file, metrics_port=settings.metrics_port)
    runtime.metrics = telemetry.ServiceMetrics(settings.service)
    await _wait_for_dependencies(runtime)
    applied = await store.migrate(runtime.pool, settings.schema, definition.service_dir)
    if applied:
        log.info("%s: applied migrations %s", settings.service, ", ".join(applied))
    runtime.relay = OutboxRelay(runtime.pool, runtime.broker, batch=settings.outbox_batch,
                                poll_s=settings.outbox_poll_s)
    router = await definition.start(runtime)
    runtime.consumer = Consumer(service=settings.service, namespace=settings.topic_namespace, pool=runtime.pool,
                                router=router, allowed=allowed, max_attempts=settings.max_attempts,
                                backoff_s=settings.retry_backoff_s, metrics=runtime.metrics,
                                on_commit=runtime.relay.wake)
    log.info("%s started (instance %s)", settings.service, settings.instance_id or instance_name())


async def _wait_for_dependencies(runtime: Runtime) -> None:
    """Connects to Kafka (the broker, after applying the topic catalog) and opens the pool, each waited for up to
    Settings.startup_wait_s when it is not up yet: a service may start before its broker or database."""
    settings = runtime.settings

    async def kafka() -> None:
        if settings.ensure_topics:
            await ensure_topics(settings.kafka_bootstrap, settings.topic_namespace, security=kafka_security(settings))
        await runtime.broker.connect()  # FastStream's own start finds it connected and goes on

    async def postgres() -> asyncpg.Pool:
        return await store.create_pool(settings.database_url, settings.schema, size=settings.pool_size)

    await startup_wait.wait_for("Kafka", settings.kafka_bootstrap, kafka, limit_s=settings.startup_wait_s,
                                transient=KAFKA_UNREACHABLE)
    runtime.pool = await startup_wait.wait_for("PostgreSQL", store.address(settings.database_url), postgres,
                                               limit_s=settings.startup_wait_s, transient=store.UNREACHABLE)


async def _stop(runtime: Runtime, definition: ServiceDefinition) -> None:
    """Cancels the service's background tasks and waits for them, then runs its cleanups and stop hook."""
    for task in runtime.tasks:
        task.cancel()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    for cleanup in reversed(runtime.cleanups):
        await cleanup()
    if definition.stop is not None:
        await definition.stop(runtime)


async def _release(runtime: Runtime) -> None:
    """After the broker stopped (its subscribers finished their in-flight records): the relay, then the pool.

    Closed before, the pool failed the records still being handled, and the consumer retried those failures as
    transient (a lost database) without end, so the broker's stop waited on them: cost-reporting and sim-fleet,
    which always have records in flight, never stopped gracefully (the broker-loss test's teardown)."""
    if runtime.relay is not None:
        await runtime.relay.stop()
    if runtime.pool is not None:
        try:  # close waits for every connection to be released: a handler stuck on a lost database never does
            await asyncio.wait_for(runtime.pool.close(), timeout=POOL_CLOSE_S)
        except (asyncio.TimeoutError, OSError, asyncpg.PostgresError) as exc:
            log.warning("%s: pool did not close cleanly (%r); terminating its connections", runtime.settings.service,
                        exc)
            runtime.pool.terminate()


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
