"""Publishing events from outside a service (CLI, demo, producers' pipelines, tests)."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from libs.events import Event, Topic, encode, topic_for
from libs.platform import telemetry


class EventPublisher:
    """An idempotent, acks=all producer that starts a trace per event and carries it in the headers."""

    def __init__(self, bootstrap: str, namespace: str = "", **options) -> None:
        self.namespace = namespace
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                         linger_ms=5, **options)

    async def __aenter__(self) -> "EventPublisher":
        telemetry.setup("client")  # so a submission starts its trace here, at the producer
        try:
            await self.producer.start()
        except BaseException:
            await self.producer.stop()  # a producer that could not start still holds a client; close it
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.producer.stop()

    async def publish(self, events: Iterable[Event], topic: Topic | None = None) -> int:
        """Publishes events (awaiting every acknowledgement); returns how many."""
        futures = [await self.send(event, topic) for event in events]
        for future in futures:
            await future
        return len(futures)

    async def send_raw(self, topic: Topic, value: bytes, key: bytes | None = None):
        """Publishes arbitrary bytes (for tests of poison input); returns the delivery future."""
        return await self.producer.send(topic.qualified(self.namespace), value=value, key=key)

    async def send(self, event: Event, topic: Topic | None = None):
        target = topic or topic_for(event)
        with telemetry.produce_span(event.producer, event.type):
            headers = {**telemetry.inject(), "event-type": event.type, "producer": event.producer}
            return await self.producer.send(target.qualified(self.namespace), value=encode(event), key=event.key,
                                            headers=[(k, v.encode()) for k, v in headers.items()])
