"""What the malformed-volume run checks: every bad record dead-lettered by exactly the services that read its topic,
with its reason; every good submission succeeded; every consumer group at the end of every partition."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from libs.events.topics import CATALOG, DEAD_LETTER, LIFECYCLE

Source = tuple[str, int, int]  # (qualified topic, partition, offset) of a record


@dataclass
class Sent:
    """What was sent: each bad record's place and expected reason, and the good submissions' ids."""

    bad: dict[Source, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)  # → (reason, kind, readers)
    good: set[str] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)  # sends Kafka refused, by error class

    @property
    def expected_letters(self) -> int:
        return sum(len(readers) for _, _, readers in self.bad.values())


@dataclass
class Watcher:
    """Reads the dead-letter and lifecycle topics (no consumer group): every letter by (service, source), and
    which workloads succeeded."""

    bootstrap: str
    namespace: str
    letters: dict[tuple[str, Source], str] = field(default_factory=dict)  # (service, source) → reason
    deliveries: int = 0  # letter records read, duplicates included
    succeeded: set[str] = field(default_factory=set)
    _task: asyncio.Task | None = None

    async def start(self) -> "Watcher":
        self._consumer = AIOKafkaConsumer(
            DEAD_LETTER.qualified(self.namespace), LIFECYCLE.qualified(self.namespace),
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level="read_committed", group_id=None, max_partition_fetch_bytes=4 << 20)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        letters_topic = DEAD_LETTER.qualified(self.namespace)
        while True:
            for tp, records in (await self._consumer.getmany(timeout_ms=200, max_records=5000)).items():
                for record in records:
                    if tp.topic == letters_topic:
                        self._letter(record.value)
                    elif (dict(record.headers).get("event-type") == b"WorkloadSucceeded" and record.key):
                        self.succeeded.add(record.key.decode())

    def _letter(self, value: bytes) -> None:
        letter = json.loads(value)
        source = (letter["source_topic"], letter["source_partition"], letter["source_offset"])
        self.letters[(letter["service"], source)] = letter["reason"]
        self.deliveries += 1

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


def matched(sent: Sent, watcher: Watcher) -> int:
    """Returns how many expected letters have arrived (right reason or not)."""
    return sum(1 for source, (_, _, readers) in sent.bad.items() for s in readers if (s, source) in watcher.letters)


def check(sent: Sent, watcher: Watcher, namespace: str, sample: int = 10) -> dict:
    """Returns the tally of letters by (topic, service, reason) and every way the run fell short of the checks."""
    prefix = f"{namespace}."
    by: Counter[str] = Counter()
    missing, wrong = [], []
    for source, (reason, kind, readers) in sent.bad.items():
        for service in readers:
            got = watcher.letters.get((service, source))
            if got is None:
                missing.append((service, *source, reason, kind))
            elif got != reason:
                wrong.append((service, *source, f"expected {reason}, got {got}", kind))
            else:
                by[f"{source[0].removeprefix(prefix)} | {service} | {reason}"] += 1
    unexpected = [(service, *source, reason) for (service, source), reason in watcher.letters.items()
                  if source not in sent.bad or service not in sent.bad[source][2]]
    unfinished = sorted(sent.good - watcher.succeeded)
    return {"letters_by_topic_service_reason": dict(sorted(by.items())),
            "letters_missing": len(missing), "letters_missing_sample": missing[:sample],
            "letters_wrong_reason": len(wrong), "letters_wrong_reason_sample": wrong[:sample],
            "letters_unexpected": len(unexpected), "letters_unexpected_sample": unexpected[:sample],
            "good_succeeded": len(sent.good) - len(unfinished), "good_unfinished_sample": unfinished[:sample]}


async def group_lags(bootstrap: str, namespace: str, services: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Returns, per service, the partitions of the topics it reads (by the catalog) whose committed offset is
    behind the end, and by how much: the partitions a service stopped reading (one it never committed on counts
    from 0)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await probe.start()
    lags = {}
    try:
        for service in services:
            partitions = [TopicPartition(t.qualified(namespace), p) for t in CATALOG if service in t.readers
                          for p in range(t.partitions)]
            committed = await admin.list_consumer_group_offsets(f"{namespace}.batchyard.{service}",
                                                                partitions=partitions)
            ends = await probe.end_offsets(partitions)
            done = {tp: m.offset for tp, m in committed.items() if m.offset >= 0}
            lags[service] = {f"{tp.topic.removeprefix(namespace + '.')}/{tp.partition}": ends[tp] - done.get(tp, 0)
                             for tp in partitions if ends[tp] > done.get(tp, 0)}
    finally:
        await probe.stop()
        await admin.close()
    return lags
