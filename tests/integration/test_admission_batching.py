"""Batch consumption (``ServiceDefinition(batch=True)``, used by admission) on real Kafka and Postgres.

A poll batch is one transaction; a batch that fails is redone record by record, so a poison record in it is
dead-lettered alone and everything else is handled exactly once, with one outbox row per emitted event.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from libs.events import PodSet, Tenant, WorkloadAccepted, WorkloadSpec, WorkloadSubmitted
from libs.events.topics import ADMISSION, SUBMITTED
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.service import Runtime, ServiceDefinition, create_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router, UnitOfWork

pytestmark = pytest.mark.integration


def submission(workload_id: str, name: str = "job") -> WorkloadSubmitted:
    return WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org="acme", team="vision"),
                             spec=WorkloadSpec(name=name, pod_sets=(PodSet(name="w", count=1),)))


def batch_service(batches: list[int], *, batch_handler: bool) -> ServiceDefinition:
    """A batch service that records and echoes what it handles; fails on workloads named 'explode'."""

    async def handle(event: WorkloadSubmitted, uow: UnitOfWork) -> None:
        if event.spec.name == "explode":
            raise RuntimeError("handler bug triggered by this payload")
        await uow.conn.execute("create table if not exists seen(workload_id text primary key)")
        await uow.conn.execute("insert into seen values ($1)", event.workload_id)
        await uow.emit(WorkloadAccepted(spec=event.spec))

    async def handle_many(events: list[WorkloadSubmitted], uows: list[UnitOfWork]) -> None:
        batches.append(len(events))
        for event, uow in zip(events, uows):
            await handle(event, uow)

    async def start(runtime: Runtime) -> Router:
        return Router(handlers={"WorkloadSubmitted": handle},
                      batch_handlers={"WorkloadSubmitted": handle_many} if batch_handler else {})

    return ServiceDefinition(name="batcher", consumes=(SUBMITTED,), produces=(ADMISSION,), service_dir=None,
                             start=start, batch=True)


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, namespace: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                    retry_backoff_s=0.01, max_attempts=2)


@pytest.mark.parametrize("batch_handler", [True, False], ids=["batch-handler", "per-event-handler"])
async def test_a_poison_record_in_a_batch_is_dead_lettered_alone_and_the_rest_handled_once(settings, batch_handler):
    batches: list[int] = []
    events = [submission(f"b-{i:03d}") for i in range(60)]
    events[30] = submission("b-030", "explode")
    app = create_app(settings, batch_service(batches, batch_handler=batch_handler))
    async with app:
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([*events, events[5], events[6]])  # two redeliveries
            await (await pub.send_raw(SUBMITTED, b"\x00 not json", key=b"b-001"))
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        assert await observer.wait_for(lambda o: o.counts["WorkloadAccepted"] >= 59 and len(o.dead_letters) >= 2,
                                       timeout=60)
        await asyncio.sleep(0.5)  # a wrong extra emission would show up by now
        await observer.stop()
    conn = await asyncpg.connect(settings.database_url)
    try:
        seen = [r[0] for r in await conn.fetch("select workload_id from batcher.seen order by 1")]
    finally:
        await conn.close()
    assert seen == sorted(e.workload_id for e in events if e.spec.name != "explode")
    assert observer.deliveries["WorkloadAccepted"] == 59, "each accepted event published once"
    assert sorted(d.reason for d in observer.dead_letters) == ["handler-error", "not-json"]
    assert not batch_handler or max(batches) > 1, "the batch handler saw more than one event at once"
