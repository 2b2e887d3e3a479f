"""A record is checked against the event types of its own topic, not of every topic its service reads: a
WorkloadSucceeded written to the placement topic was handled by cost reporting (which reads it from the lifecycle
topic) instead of being dead-lettered wrong-topic (benchmarks.malformed_volume found such records handled)."""

from __future__ import annotations

from libs.events import Tenant, WorkloadSucceeded, encode
from libs.events.topics import LIFECYCLE, PLACEMENT
from libs.platform import telemetry
from libs.platform.consumer import Consumer, Record
from libs.platform.service import allowed_types
from services.cost_reporting.app import DEFINITION
from libs.platform.unit_of_work import Router


class Recording(Consumer):
    """The consumer with its dead letters noted instead of written (no database)."""

    letters: list

    async def _dead_letter_all(self, letters) -> None:
        self.letters.extend((letter.record.topic, letter.reason) for letter in letters)


def consumer() -> Recording:
    handled = {"WorkloadSucceeded": lambda event, uow: None}
    c = Recording(service="cost-reporting", namespace="ns", pool=None, router=Router(handlers=handled),
                  allowed=allowed_types(DEFINITION, "ns"), max_attempts=1, backoff_s=0,
                  metrics=telemetry.ServiceMetrics("cost-reporting"), on_commit=lambda: None)
    c.letters = []
    return c


def record(topic, event) -> Record:
    return Record(topic=topic.qualified("ns"), partition=0, offset=0, key=b"w", value=encode(event), headers={})


SUCCEEDED = WorkloadSucceeded(workload_id="w", tenant=Tenant(org="acme", team="nlp"), cluster="c")


async def test_an_event_on_a_topic_that_does_not_carry_its_type_is_dead_lettered_wrong_topic():
    c = consumer()
    assert await c._route(record(PLACEMENT, SUCCEEDED)) is None  # cost reporting reads it, from lifecycle only
    assert c.letters == [(PLACEMENT.qualified("ns"), "wrong-topic")]


async def test_an_event_on_its_own_topic_is_routed():
    c = consumer()
    assert (await c._route(record(LIFECYCLE, SUCCEEDED)))[0] == SUCCEEDED
    assert c.letters == []
