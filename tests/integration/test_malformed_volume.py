"""Malformed input at volume, small: a few thousand bad records (byte-wise mutations of a real corpus, hostile
JSON, Hypothesis-drawn documents and bytes, hostile headers and keys) on every topic a service reads, interleaved
with signed submissions, through real Kafka into the whole platform as processes. No service dies or restarts,
every bad record is dead-lettered by exactly the services that read its topic with the reason decode gives it,
every good submission succeeds, and no consumer group is left behind on any partition. The same code as
``python -m benchmarks.malformed_volume`` (docs/benchmarks.d/platform-malformed.md records the large runs);
MALFORMED_BAD, MALFORMED_GOOD and MALFORMED_SEED size it."""

from __future__ import annotations

import os

import pytest

from benchmarks.malformed_volume import run

pytestmark = pytest.mark.integration

BAD = int(os.environ.get("MALFORMED_BAD", "3000"))
GOOD = int(os.environ.get("MALFORMED_GOOD", "30"))
SEED = int(os.environ.get("MALFORMED_SEED", "16"))


async def test_bad_records_at_volume_are_all_dead_lettered_and_good_ones_all_processed(
        kafka_bootstrap, database_url, tmp_path):
    figures = await run(kafka_bootstrap, database_url, BAD, GOOD, SEED, tmp_path, pool=300)
    print(f"\nmalformed volume: {figures['bad_records']} bad + {figures['good_records']} good records, "
          f"{figures['letters_distinct']} letters, {figures['records_per_s']} records/s; by reason "
          f"{figures['bad_by_reason']}")
    assert figures["failures"] == [], figures["failures"]
    assert figures["bad_records"] == BAD and figures["good_records"] == GOOD and figures["good_succeeded"] == GOOD
    assert figures["letters_distinct"] == figures["expected_letters"]  # each by exactly the readers of its topic
    assert not figures["crashed"] and not any(figures["lags"].values())
    # the run covered what it claims: every kind of bad record, and the parser's limits
    assert set(figures["bad_by_kind"]) >= {"flip", "truncate", "insert", "delete", "splice", "deep", "huge-int",
                                          "near-limit", "wrong-type", "bad-utf8", "hypothesis-doc", "empty", "nul-key"}
    assert {"not-json", "too-deep", "invalid", "wrong-topic", "unknown-type"} <= set(figures["bad_by_reason"])
