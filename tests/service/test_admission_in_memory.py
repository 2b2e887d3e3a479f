"""Service tier: the admission app on FastStream's in-memory TestKafkaBroker, with its real Postgres schema.

Fast feedback on handler wiring, the inbox and the outbox relay; the same flow runs on real Kafka in
tests/integration.
"""

from __future__ import annotations

import pytest
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from libs.events import PodSet, Tenant, WorkloadSpec, WorkloadSubmitted, encode
from libs.events.topics import ADMISSION, DEAD_LETTER, SUBMITTED
from libs.platform.settings import Settings
from services.admission.app import create_app
from services.admission.signing import demo_signer
from tests.support.in_memory_broker import collect, until


SIGN = demo_signer()


def submission(workload_id: str, **pod) -> WorkloadSubmitted:
    """A signed submission from acme/nlp (the demo keyring's team key)."""
    return SIGN(WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org="acme", team="nlp"),
                                  spec=WorkloadSpec(name="train", pod_sets=(PodSet(name="w", count=1, **pod),))))


@pytest.fixture
def app(database_url: str):
    settings = Settings(kafka_bootstrap="in-memory:9092", database_url=database_url, ensure_topics=False,
                        outbox_poll_s=0.01)
    return create_app(settings)


async def test_in_memory_admission_accepts_rejects_and_dead_letters(app):
    verdicts = await collect(app, ADMISSION)
    letters = await collect(app, DEAD_LETTER)
    async with TestKafkaBroker(app.broker) as broker, TestApp(app):
        await broker.publish(encode(submission("ok-1")), SUBMITTED.name, key=b"ok-1")
        await broker.publish(encode(submission("bad-1", privileged=True)), SUBMITTED.name, key=b"bad-1")
        await broker.publish(b"not json at all", SUBMITTED.name, key=b"junk")
        await until(lambda: len(verdicts) == 2 and letters, timeout=10)
    by_id = {v.workload_id: v for v in verdicts}
    assert by_id["ok-1"].type == "WorkloadAccepted" and by_id["ok-1"].spec.queue == "default"
    assert (by_id["bad-1"].type, by_id["bad-1"].rule) == ("WorkloadRejected", "pod.privileged")
    assert [letter.reason for letter in letters] == ["not-json"]
