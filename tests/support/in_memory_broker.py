"""Helpers for service-tier tests on FastStream's in-memory TestKafkaBroker: collect a topic, wait for a state."""

from __future__ import annotations

from collections.abc import Callable

from faststream.kafka.annotations import KafkaMessage

from libs.events import decode
from libs.events.topics import Topic
from tests.support.polling import eventually


async def collect(app, topic: Topic) -> list:
    """Returns a list that fills with every event the app publishes on ``topic`` (subscribe before starting)."""
    seen: list = []

    @app.broker.subscriber(topic.name, group_id="test-collector")
    async def sink(message: KafkaMessage) -> None:
        seen.append(decode(message.body))

    return seen


async def until(check: Callable[[], object], timeout: float = 20.0) -> bool:
    """Polls the plain ``check`` until it is truthy (in-memory delivery: short intervals)."""
    async def ask() -> object:
        return check()

    return await eventually(ask, timeout, 0.05)
