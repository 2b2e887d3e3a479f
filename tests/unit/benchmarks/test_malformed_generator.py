"""The malformed-volume generator (benchmarks/malformed): every record it sends is bad on its topic, keyed, within
Kafka's record limit, the same for the same seed, and every kind of bad record appears."""

from __future__ import annotations

from libs.events import encode
from libs.events.topics import NODE_INVENTORY, SUBMITTED
from libs.localinfra.steady_load import submissions
from services.admission.signing import demo_signer

from benchmarks.malformed.corpus import Seed, with_fallbacks
from benchmarks.malformed.generate import WEIGHTS, Generator, expected_reason, readers
from benchmarks.malformed.hostile import NEAR_LIMIT


EVENTS = submissions(6, "u", demo_signer())  # signed once: tokens differ from one signing to the next
CORPUS = with_fallbacks({SUBMITTED.name: [Seed(SUBMITTED.name, e.key, encode(e), ()) for e in EVENTS]})


def test_every_record_is_bad_on_its_topic_keyed_and_fits_on_kafka():
    generator = Generator(CORPUS, seed=3, pool=40)
    records = list(generator.records(200))
    assert len(records) == 200
    assert set(WEIGHTS) <= {r.kind for r in records}  # one of each kind first
    for r in records:
        assert r.reason == expected_reason(r.topic, r.value) is not None
        assert r.key is not None and readers(r.topic)  # compacted topics refuse keyless records
        assert len(r.value or b"") + len(r.key) + sum(len(k) + len(v) for k, v in r.headers) < NEAR_LIMIT + 8_192


def test_the_same_seed_makes_the_same_records():
    first = [(r.topic.name, r.key, r.value, r.reason) for r in Generator(CORPUS, seed=5, pool=30).records(100)]
    again = [(r.topic.name, r.key, r.value, r.reason) for r in Generator(CORPUS, seed=5, pool=30).records(100)]
    assert first == again


def test_readers_are_the_running_services_of_the_catalog():
    assert readers(NODE_INVENTORY) == ("scheduler", "node-repair", "cost-reporting")
    assert readers(SUBMITTED) == ("admission",)
