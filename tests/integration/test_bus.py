"""The platform runtime on real Kafka and Postgres: dead letters, bounded retries, inbox dedupe, topic catalog."""

from __future__ import annotations

import base64
import dataclasses
import json

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from libs.events import CATALOG, PodSet, Tenant, WorkloadSpec, WorkloadSubmitted, encode
from libs.events.topics import NODE_INVENTORY, SUBMITTED
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.service import Runtime, ServiceDefinition, create_app
from libs.platform.settings import Settings
from libs.platform.topics_admin import ensure_topics
from libs.platform.unit_of_work import Router, UnitOfWork

pytestmark = pytest.mark.integration


def submission(workload_id: str, name: str = "job") -> WorkloadSubmitted:
    return WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org="acme", team="vision"),
                             spec=WorkloadSpec(name=name, pod_sets=(PodSet(name="w", count=1),)))


def recording_service(handled: list[str]) -> ServiceDefinition:
    """A service that records what it handles and fails on workloads named 'explode'."""

    async def handle(event: WorkloadSubmitted, uow: UnitOfWork) -> None:
        if event.spec.name == "explode":
            raise RuntimeError("handler bug triggered by this payload")
        await uow.conn.execute("create table if not exists seen(workload_id text)")
        await uow.conn.execute("insert into seen values ($1)", event.workload_id)
        handled.append(event.workload_id)

    async def start(runtime: Runtime) -> Router:
        return Router(handlers={"WorkloadSubmitted": handle})

    return ServiceDefinition(name="recorder", consumes=(SUBMITTED,), produces=(), service_dir=None, start=start)


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, namespace: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                    retry_backoff_s=0.01, max_attempts=3)


async def test_poison_and_failing_messages_are_dead_lettered_and_the_partition_keeps_flowing(settings):
    handled: list[str] = []
    app = create_app(settings, recording_service(handled))
    poison = b'{"type": "WorkloadSubmitted", "spec": {"name": "x"}}'
    async with app:
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            # one key, so all land on one partition in this order: poison must not block what follows
            for value in (b"\x00\xff not json", poison):
                await (await pub.send_raw(SUBMITTED, value, key=b"same-key"))
            await pub.publish([submission("same-key", "explode"), submission("same-key")])
        assert await observer.wait_for(lambda o: len(o.dead_letters) == 3 and handled, timeout=60), \
            f"handled={handled} dead letters={[d.reason for d in observer.dead_letters]}"
        await observer.stop()
    letters = sorted(observer.dead_letters, key=lambda d: d.source_offset)
    assert [d.reason for d in letters] == ["not-json", "invalid", "handler-error"]
    assert base64.b64decode(letters[0].original) == b"\x00\xff not json"
    assert base64.b64decode(letters[1].original) == poison
    assert "spec" in letters[1].error and letters[2].attempts == 3
    assert "handler bug" in letters[2].error
    assert handled == ["same-key"]


HOSTILE = {  # value → the reason code its dead letter must carry
    b"[" * 200_000: "too-deep",  # RecursionError in json.loads before the fix: the record vanished, no letter
    b'{"type": "WorkloadSubmitted", "workload_id": ' + b"9" * 6000 + b"}": "not-json",  # int digit limit
    # near Kafka's 1 MiB record limit: its letter carries only the first 256 KiB, or it could never be published
    b'{"type": "WorkloadSubmitted", "pad": "' + b"x" * 999_000 + b'"}': "invalid",
}


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batches"])
async def test_hostile_values_are_dead_lettered_with_a_reason_and_good_records_around_them_are_handled(
        settings, batch):
    handled: list[str] = []
    app = create_app(settings, dataclasses.replace(recording_service(handled), batch=batch))
    async with app:
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            for i, value in enumerate(HOSTILE):  # one key: one partition, good and hostile records interleaved
                await (await pub.send_raw(SUBMITTED, encode(submission(f"good-{i}")), key=b"same-key"))
                await (await pub.send_raw(SUBMITTED, value, key=b"same-key"))
            await (await pub.send_raw(SUBMITTED, encode(submission("good-last")), key=b"same-key"))
        assert await observer.wait_for(lambda o: len(o.dead_letters) == len(HOSTILE) and len(handled) == 4,
                                       timeout=60), \
            f"handled={handled} dead letters={[d.reason for d in observer.dead_letters]}"
        await observer.stop()
    letters = sorted(observer.dead_letters, key=lambda d: d.source_offset)
    assert [d.reason for d in letters] == list(HOSTILE.values())
    assert sorted(handled) == ["good-0", "good-1", "good-2", "good-last"]
    big = letters[2]
    assert (big.original_bytes, big.original_truncated) == (len(list(HOSTILE)[2]), True)
    assert base64.b64decode(big.original) == list(HOSTILE)[2][:262_144]
    assert (letters[0].original_truncated, base64.b64decode(letters[0].original)) == (False, list(HOSTILE)[0])


async def test_a_service_exports_its_metrics(settings):
    from urllib.request import urlopen

    from libs.localinfra._proc import free_port

    port = free_port()
    handled: list[str] = []
    async with create_app(settings.model_copy(update={"metrics_port": port}), recording_service(handled)):
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([submission("m-1")])
            await (await pub.send_raw(SUBMITTED, b"junk", key=b"m-2"))
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        assert await observer.wait_for(lambda o: handled and o.dead_letters, timeout=30)
        await observer.stop()
        text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    def sample(name: str, label: str) -> str:
        [line] = [x for x in text.splitlines() if x.startswith(name + "{") and label in x]
        return line.rsplit(" ", 1)[1]

    assert sample("batchyard_events_handled_total", 'event_type="WorkloadSubmitted"') == "1.0"
    assert sample("batchyard_dead_letters_total", 'reason="not-json"') == "1.0"
    assert sample("batchyard_decision_seconds_count", 'event_type="WorkloadSubmitted"') == "1.0"


async def test_the_trace_starts_at_the_producer_and_continues_in_the_consumer(settings, tmp_path):
    from opentelemetry import trace

    from libs.platform import telemetry

    spans_file = tmp_path / "spans.jsonl"
    handled: list[str] = []
    async with create_app(settings.model_copy(update={"spans_file": str(spans_file)}), recording_service(handled)):
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            with trace.get_tracer("test").start_as_current_span("producer-side") as parent:
                await pub.publish([submission("traced-1")])
                trace_id = f"{parent.get_span_context().trace_id:032x}"
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        assert await observer.wait_for(lambda o: handled, timeout=30)
        await observer.stop()
    telemetry.flush()
    text = spans_file.read_text()
    spans = json.loads("[" + text.replace("}\n{", "},{") + "]")
    consumer = [s for s in spans if s["name"] == "recorder handle WorkloadSubmitted"]
    assert consumer and consumer[0]["context"]["trace_id"] == "0x" + trace_id
    assert consumer[0]["kind"] == "SpanKind.CONSUMER" and consumer[0]["parent_id"]


async def test_a_redelivered_event_is_handled_once(settings):
    handled: list[str] = []
    event = submission("dup-1")
    async with create_app(settings, recording_service(handled)):
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([event, event, event, submission("dup-2")])
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        assert await observer.wait_for(lambda o: len(handled) >= 2, timeout=30)
        await observer.stop()
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("select workload_id from recorder.seen order by 1")
        processed = await conn.fetchval("select count(*) from recorder.processed_events")
    finally:
        await conn.close()
    assert [r["workload_id"] for r in rows] == ["dup-1", "dup-2"]
    assert processed == 2


async def test_topic_catalog_is_applied_idempotently(kafka_bootstrap, namespace):
    first = await ensure_topics(kafka_bootstrap, namespace)
    second = await ensure_topics(kafka_bootstrap, namespace)
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"configs aligned"}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {d["topic"]: len(d["partitions"])
                     for d in await admin.describe_topics([t.qualified(namespace) for t in CATALOG])}
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, NODE_INVENTORY.qualified(namespace))])
    finally:
        await admin.close()
    assert described == {t.qualified(namespace): t.partitions for t in CATALOG}
    entries = {c[0]: c[1] for c in configs[0].resources[0][4]}
    assert entries["cleanup.policy"] == "compact"
