"""The app factory every service uses: a FastStream Kafka app with effectively-once handling.

``create_app(settings, definition)`` wires: topic catalog → Postgres pool and migrations → the service's
own start hook (which returns its router) → one Kafka subscriber over the service's topics (offsets
committed only after handling) → the outbox relay (acks=all, idempotent producer).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI

from libs.events import Topic
from libs.platform import store, telemetry
from libs.platform.consumer import Consumer, Record
from libs.platform.contracts import raw_payload
from libs.platform.outbox import OutboxRelay
from libs.platform.settings import Settings
from libs.platform.topics_admin import ensure_topics
from libs.platform.unit_of_work import Router

log = logging.getLogger("batchyard.service")


@dataclass
class Runtime:
    """What a running service shares with its hooks and handlers."""

    settings: Settings
    broker: KafkaBroker
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    metrics: telemetry.ServiceMetrics | None = None
    extras: dict = field(default_factory=dict)  # service-specific long-lived objects (e.g. the snapshot)


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


def make_broker(settings: Settings) -> KafkaBroker:
    """Returns a KafkaBroker whose producer waits for all replicas and is idempotent."""
    sec = settings.kafka_security
    options: dict = {"security_protocol": sec.security_protocol}
    if sec.sasl_mechanism:
        options |= {"sasl_mechanism": sec.sasl_mechanism, "sasl_plain_username": sec.sasl_username,
                    "sasl_plain_password": sec.sasl_password.get_secret_value() if sec.sasl_password else None}
    if sec.ssl_cafile:
        import ssl
        context = ssl.create_default_context(cafile=sec.ssl_cafile)
        if sec.ssl_certfile:
            context.load_cert_chain(sec.ssl_certfile, sec.ssl_keyfile)
        options["ssl_context"] = context
    return KafkaBroker(settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                       client_id=f"batchyard-{settings.service}", **options)


def create_app(settings: Settings, definition: ServiceDefinition) -> FastStream:
    """Returns the FastStream app of one service (its AsyncAPI document included)."""
    settings = settings.for_service(definition.name)
    broker = make_broker(settings)
    runtime = Runtime(settings=settings, broker=broker)
    names = [t.qualified(settings.topic_namespace) for t in definition.consumes]
    allowed = frozenset().union(*(t.event_names for t in definition.consumes))

    @broker.subscriber(*names, group_id=settings.group_id, ack_policy=AckPolicy.ACK, auto_offset_reset="earliest",
                       decoder=_raw_body, max_poll_records=200, title=f"{definition.name}:in",
                       description=f"Events {definition.name} consumes.")
    async def on_record(body: raw_payload(definition.consumes), message: KafkaMessage) -> None:
        raw = message.raw_message
        await runtime.consumer.process(Record(topic=raw.topic, partition=raw.partition, offset=raw.offset,
                                              key=raw.key, value=body, headers=dict(message.headers)))

    for topic in definition.produces:
        broker.publisher(topic.qualified(settings.topic_namespace), schema=raw_payload((topic,)),
                         title=f"{definition.name}:out:{topic.name}", description=topic.description)

    async def startup() -> None:
        await _start(runtime, definition, allowed)

    async def relay() -> None:
        runtime.relay.start()  # the producer is connected only once the broker has started

    async def shutdown() -> None:
        await _stop(runtime, definition)

    spec = AsyncAPI(broker, title=f"batchyard {definition.name}", version="1",
                    description=definition.description or None)
    app = FastStream(broker, on_startup=[startup], after_startup=[relay], on_shutdown=[shutdown], specification=spec)
    app.runtime = runtime  # tests and the CLI reach the running service through this
    return app


async def _raw_body(message, original=None) -> bytes:
    return message.body


async def _start(runtime: Runtime, definition: ServiceDefinition, allowed: frozenset[str]) -> None:
    settings = runtime.settings
    telemetry.setup(settings.service)
    runtime.metrics = telemetry.ServiceMetrics(settings.service)
    await ensure_topics(settings.kafka_bootstrap, settings.topic_namespace)
    runtime.pool = await store.create_pool(settings.database_url, settings.schema, size=settings.pool_size)
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


async def _stop(runtime: Runtime, definition: ServiceDefinition) -> None:
    if definition.stop is not None:
        await definition.stop(runtime)
    if runtime.relay is not None:
        await runtime.relay.stop()
    if runtime.pool is not None:
        await runtime.pool.close()


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
