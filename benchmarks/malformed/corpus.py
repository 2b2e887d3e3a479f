"""The seed corpus: real records captured from a short warm-up run of the platform, per topic, as raw Kafka records
(key, value, headers), so the mutations start from the exact bytes the services exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events import NodeRepairTransitioned, encode
from libs.events.topics import CATALOG, NODE_REPAIR, Topic

MAX_PER_TOPIC = 400  # enough variety for the mutations; a larger corpus only costs memory


@dataclass(frozen=True)
class Seed:
    """One real record of a topic."""

    topic: str  # the catalog name (unqualified)
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


async def capture(bootstrap: str, namespace: str, topics: tuple[Topic, ...] = CATALOG) -> dict[str, list[Seed]]:
    """Returns up to MAX_PER_TOPIC records of each topic, read from its beginning to its current end without a
    consumer group (the services are not disturbed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    corpus: dict[str, list[Seed]] = {t.name: [] for t in topics}
    by_name = {t.qualified(namespace): t.name for t in topics}
    partitions = [TopicPartition(t.qualified(namespace), p) for t in topics for p in range(t.partitions)]
    consumer.assign(partitions)  # before anything else: aiokafka's stop fails on a consumer never assigned
    try:
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > 0}
        await consumer.seek_to_beginning()
        while ends:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=2000)).items():
                for r in records:
                    seeds = corpus[by_name[tp.topic]]
                    if r.value is not None and len(seeds) < MAX_PER_TOPIC:
                        seeds.append(Seed(by_name[tp.topic], r.key, r.value, tuple(r.headers or ())))
                if records and records[-1].offset + 1 >= ends.get(tp, 0):
                    ends.pop(tp, None)
    finally:
        await consumer.stop()
    return with_fallbacks(corpus)


def with_fallbacks(corpus: dict[str, list[Seed]]) -> dict[str, list[Seed]]:
    """Returns the corpus with a hand-made record on the topics the warm-up left empty (a healthy fleet makes no
    repair transitions), so every topic's mutations start from a valid record of its own kind."""
    if not corpus.get(NODE_REPAIR.name):
        event = NodeRepairTransitioned(node_id="n-seed", from_state="healthy", to_state="suspect", reason="xid-79",
                                       evidence={"xid": "79"}, pool="cpu", producer="node-repair",
                                       occurred_at=datetime(2026, 12, 6, tzinfo=UTC))
        corpus[NODE_REPAIR.name] = [Seed(NODE_REPAIR.name, event.key, encode(event),
                                         (("event-type", b"NodeRepairTransitioned"),))]
    return corpus
