"""Service tier: the quota app on FastStream's in-memory TestKafkaBroker, with its real Postgres schema.

Fast feedback on the wiring (leader lease, engine rebuild from the stored config, batch consumer, inbox, outbox
relay, the cycles); the same flows run on real Kafka in tests/integration (test_quota_*).
"""

from __future__ import annotations

import pytest
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from libs.events import WorkloadSucceeded, encode
from libs.events.topics import ADMISSION, DEAD_LETTER, LIFECYCLE, QUOTA
from libs.platform.settings import Settings
from services.quota.app import create_app
from tests.support.in_memory_broker import collect, until
from tests.unit.quota_service.test_quota_handlers_in_memory import CONFIG, TENANT, accepted


@pytest.fixture
def app(database_url: str, tmp_path):
    path = tmp_path / "quota.yaml"
    path.write_text(CONFIG)  # one cluster queue of 8 GPUs for team vision
    settings = Settings(kafka_bootstrap="in-memory:9092", database_url=database_url, ensure_topics=False,
                        outbox_poll_s=0.01, quota_config=str(path))
    return create_app(settings)


def kinds(events) -> list[tuple[str, str]]:
    return [(e.type, e.workload_id) for e in events]


async def test_in_memory_quota_reserves_queues_and_frees(app):
    decisions = await collect(app, QUOTA)
    letters = await collect(app, DEAD_LETTER)
    async with TestKafkaBroker(app.broker) as broker, TestApp(app):
        await broker.publish(encode(accepted("a")), ADMISSION.name, key=b"a")
        assert await until(lambda: decisions), decisions
        assert kinds(decisions) == [("QuotaReserved", "a")]
        await broker.publish(encode(accepted("b")), ADMISSION.name, key=b"b")
        assert await until(lambda: len(decisions) == 2), decisions
        await broker.publish(encode(WorkloadSucceeded(workload_id="a", tenant=TENANT, cluster="onprem-dc1")),
                             LIFECYCLE.name, key=b"a")
        assert await until(lambda: len(decisions) == 4), decisions
        await broker.publish(b"{not json", ADMISSION.name, key=b"junk")
        assert await until(lambda: letters), letters
    assert kinds(decisions) == [("QuotaReserved", "a"), ("WorkloadPending", "b"), ("QuotaReleased", "a"),
                                ("QuotaReserved", "b")]
    assert (decisions[1].reason, decisions[1].position) == ("QuotaExhausted", 1)
    assert decisions[0].cluster_queue == "vision-cq" and [f.flavor for f in decisions[0].flavors] == ["a100"]
    assert [letter.reason for letter in letters] == ["not-json"]
    assert sorted(app.runtime.service.engine.reservations) == ["b"]
