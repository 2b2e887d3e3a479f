"""Bad records at volume: byte-wise mutations of the real corpus (flip, truncate, insert, delete, splice), hostile
JSON (deep, huge integers, near 1 MiB, wrong types, unknown or foreign event types, versions, bad UTF-8, empty),
Hypothesis-drawn documents and bytes, some under hostile headers or keys, for every topic a service reads.

Each record's expected reason is what ``libs.events.decode`` says of it on its topic; a mutation that is still a
valid event is not sent (it would be a good record), only counted."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import strategies as st

from libs.events import DecodeError, decode
from libs.events.topics import (ADMISSION, LIFECYCLE, NODE_HEALTH, NODE_INVENTORY, NODE_REPAIR, PLACEMENT, QUOTA,
                                SUBMITTED, Topic)
from libs.localinfra.processes import ALL_SERVICES

from . import hostile
from .corpus import Seed

TARGETS = (SUBMITTED, ADMISSION, QUOTA, PLACEMENT, LIFECYCLE, NODE_INVENTORY, NODE_HEALTH, NODE_REPAIR)
# how often each kind is made, per 1,000 records (after one of each first); near-limit values are few: each is
# ~1 MiB on Kafka, and a 256 KiB letter from every reader
WEIGHTS = {"flip": 140, "truncate": 110, "insert": 90, "delete": 90, "splice": 90, "wrong-type": 110,
           "hypothesis-doc": 90, "hypothesis-bytes": 50, "bad-utf8": 60, "wrong-topic": 40, "unknown-type": 30,
           "version": 20, "not-object": 20, "deep": 25, "huge-int": 25, "empty": 8, "nul-key": 10, "near-limit": 0.2}


def readers(topic: Topic, running: tuple[str, ...] = ALL_SERVICES) -> tuple[str, ...]:
    """Returns the running services that consume ``topic`` (each must dead-letter every bad record on it)."""
    return tuple(r for r in topic.readers if r in running)


def expected_reason(topic: Topic, value: bytes | None) -> str | None:
    """Returns the reason code a reader of ``topic`` must give ``value``, or None when it is a valid event."""
    try:
        decode(value, allowed=topic.event_names)
    except DecodeError as exc:
        return exc.reason
    return None


@dataclass(frozen=True)
class BadRecord:
    topic: Topic
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]
    kind: str  # how it was made (a WEIGHTS key)
    reason: str  # the reason code every reader must dead-letter it with


class Generator:
    """Makes bad records from a corpus, the same ones for the same corpus and seed."""

    def __init__(self, corpus: dict[str, list[Seed]], seed: int, pool: int = 1_000) -> None:
        self.rng = random.Random(seed)
        self.seeds = {t.name: corpus.get(t.name) or [s for v in corpus.values() for s in v] for t in TARGETS}
        self.everything = [s for v in corpus.values() for s in v]
        self.documents = {name: [json.loads(s.value) for s in seeds] for name, seeds in self.seeds.items()}
        self.fragments = hostile.draw(hostile.JSON_VALUES, pool, seed)  # Hypothesis, drawn once
        self.blobs = hostile.draw(st.binary(max_size=2_048), max(10, pool // 4), seed + 1)
        self.kinds, self.weights = list(WEIGHTS), list(WEIGHTS.values())
        self.made: Counter[str] = Counter()  # kind → records made
        self.still_valid: Counter[str] = Counter()  # kind → mutations that were still valid events (not sent)

    def records(self, count: int) -> Iterator[BadRecord]:
        """Yields ``count`` bad records, spread over the target topics."""
        sent = 0
        while sent < count:
            topic = self.rng.choice(TARGETS)
            kind = self.kinds[sent] if sent < len(self.kinds) else self.rng.choices(self.kinds, self.weights)[0]
            value = getattr(self, "_" + kind.replace("-", "_"))(topic)
            reason = expected_reason(topic, value)
            if reason is None:
                self.still_valid[kind] += 1
                continue
            small = value is None or len(value) < 900_000
            headers = hostile.hostile_headers(self.rng) if small and self.rng.random() < 0.08 else []
            key = hostile.hostile_key(self.rng, sent) if self.rng.random() < 0.04 else b"bad-%d" % sent
            self.made[kind] += 1
            sent += 1
            yield BadRecord(topic, key, value, headers, kind, reason)

    def _seed(self, topic: Topic) -> bytes:
        return self.rng.choice(self.seeds[topic.name]).value

    def _document(self, topic: Topic) -> dict:
        return dict(self.rng.choice(self.documents[topic.name]))

    def _flip(self, topic: Topic) -> bytes:
        value = bytearray(self._seed(topic))
        for _ in range(self.rng.randint(1, 4)):
            value[self.rng.randrange(len(value))] ^= 1 << self.rng.randrange(8)
        return bytes(value)

    def _truncate(self, topic: Topic) -> bytes:
        value = self._seed(topic)
        return value[:self.rng.randrange(len(value))]

    def _insert(self, topic: Topic) -> bytes:
        value, at = self._seed(topic), None
        at = self.rng.randrange(len(value) + 1)
        return value[:at] + self.rng.randbytes(self.rng.randint(1, 16)) + value[at:]

    def _delete(self, topic: Topic) -> bytes:
        value = self._seed(topic)
        at = self.rng.randrange(len(value))
        return value[:at] + value[at + self.rng.randint(1, 32):]

    def _splice(self, topic: Topic) -> bytes:
        head, tail = self._seed(topic), self.rng.choice(self.everything).value
        return head[:self.rng.randrange(len(head))] + tail[self.rng.randrange(len(tail)):]

    def _wrong_type(self, topic: Topic) -> bytes:
        document = self._document(topic)
        field = self.rng.choice([k for k in document if k != "type"] or ["spec"])
        target = document
        if isinstance(document.get(field), dict) and document[field] and self.rng.random() < 0.5:
            target = document[field] = dict(document[field])
            field = self.rng.choice(list(target))
        target[field] = self.rng.choice(self.fragments)
        return json.dumps(document).encode()

    def _hypothesis_doc(self, topic: Topic) -> bytes:
        document = self.rng.choice(self.fragments)
        document = dict(document) if isinstance(document, dict) else {"payload": document}
        document["type"] = self.rng.choice(sorted(topic.event_names))
        return json.dumps(document).encode()

    def _hypothesis_bytes(self, topic: Topic) -> bytes:
        return self.rng.choice(self.blobs)

    def _bad_utf8(self, topic: Topic) -> bytes:
        return hostile.bad_utf8(self.rng, self._seed(topic))

    def _wrong_topic(self, topic: Topic) -> bytes:
        foreign = [s for s in self.everything if json.loads(s.value).get("type") not in topic.event_names]
        return self.rng.choice(foreign).value if foreign else b'{"type":"MessageDeadLettered"}'

    def _unknown_type(self, topic: Topic) -> bytes:
        document = self._document(topic)
        document["type"] = self.rng.choice(["WorkloadTeleported", "", None, 7, ["WorkloadSubmitted"],
                                            document["type"].lower(), document["type"] + "\u0000"])
        return json.dumps(document).encode()

    def _version(self, topic: Topic) -> bytes:
        document = self._document(topic)
        document["schema_version"] = self.rng.choice([0, 2, 99, -1, "1", 1.5, None, True])
        return json.dumps(document).encode()

    def _not_object(self, topic: Topic) -> bytes:
        return json.dumps(self.rng.choice([[self._document(topic)], "WorkloadSubmitted", 42, None, 1e308, []])).encode()

    def _deep(self, topic: Topic) -> bytes:
        return hostile.deep(self.rng, self.rng.choice(sorted(topic.event_names)))

    def _huge_int(self, topic: Topic) -> bytes:
        return hostile.huge_integer(self.rng, self.rng.choice(sorted(topic.event_names)))

    def _nul_key(self, topic: Topic) -> bytes:
        """A mapping field (labels, evidence, conditions) whose key holds a NUL: the error names the key, and
        PostgreSQL refuses NUL in text (it lost dead letters before consumer.storable)."""
        document = self._document(topic)
        for name in ("labels", "evidence", "conditions", "conditions_since"):
            document[name] = {f"k\u0000{self.rng.randrange(100)}": [1]}
        return json.dumps(document).encode()

    def _empty(self, topic: Topic) -> bytes | None:
        return self.rng.choice((None, b"", b" ", b"\n"))

    def _near_limit(self, topic: Topic) -> bytes:
        return hostile.near_limit(self.rng, self._document(topic))
