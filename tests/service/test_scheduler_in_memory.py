"""Service tier: the scheduler app on FastStream's in-memory TestKafkaBroker, with its real Postgres schema.

Fast feedback on the wiring (leader lease, snapshot rebuild, batch consumer, inbox, outbox relay, the core's
cycle); the same flows run on real Kafka in tests/integration (test_flow, test_scheduler_*).
"""

from __future__ import annotations

import pytest
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from libs.events import encode
from libs.events.topics import DEAD_LETTER, NODE_INVENTORY, PLACEMENT, QUOTA
from libs.platform.settings import Settings
from services.scheduler.app import create_app
from tests.support.in_memory_broker import collect, until
from tests.unit.scheduler_service.scheduler_builders import inventoried, reserved


@pytest.fixture
def app(database_url: str):
    settings = Settings(kafka_bootstrap="in-memory:9092", database_url=database_url, ensure_topics=False,
                        outbox_poll_s=0.01, scheduler_min_runtime_s=0)
    return create_app(settings)


async def test_in_memory_scheduler_places_preempts_and_dead_letters(app):
    placements = await collect(app, PLACEMENT)
    letters = await collect(app, DEAD_LETTER)
    async with TestKafkaBroker(app.broker) as broker, TestApp(app):
        for name in ("n1", "n2"):
            await broker.publish(encode(inventoried(name)), NODE_INVENTORY.name, key=name.encode())
        for wid in ("a", "b"):
            await broker.publish(encode(reserved(wid).pods("p", 1, gpu=8).build()), QUOTA.name, key=wid.encode())
        assert await until(lambda: len(placements) == 2), placements
        high = reserved("high").priority(9).pods("p", 1, gpu=8).build()
        await broker.publish(encode(high), QUOTA.name, key=b"high")
        await broker.publish(b"{not json", QUOTA.name, key=b"junk")
        asked = lambda: [e for e in placements if e.type == "PreemptionRequested"]  # noqa: E731
        assert await until(lambda: asked() and letters), [(e.type, e.workload_id) for e in placements]
    placed = {e.workload_id: e for e in placements if e.type == "WorkloadPlaced"}
    assert sorted(placed) == ["a", "b"] and {placed[w].assignments[0].node_id for w in "ab"} == {"n1", "n2"}
    [request] = [e for e in placements if e.type == "PreemptionRequested"]
    assert (request.preemptor, request.workload_id in ("a", "b")) == ("high", True)
    assert [letter.reason for letter in letters] == ["not-json"]
