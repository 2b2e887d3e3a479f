"""The outbox's set-wise insert on real PostgreSQL: one statement, rows numbered in the order given (the relay
publishes by seq, so a key's events reach Kafka in the order they were emitted), every column as written."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.platform.unit_of_work import insert_outbox
from tests.support.schemas import migrated

pytestmark = pytest.mark.integration  # the outbox is every service's; sim_fleet's schema serves

rows_strategy = st.lists(st.tuples(st.sampled_from(["t.a", "t.b"]), st.none() | st.binary(max_size=8),
                                   st.binary(min_size=1, max_size=32),
                                   st.dictionaries(st.sampled_from(["traceparent", "event-type", "producer"]),
                                                   st.text(st.characters(blacklist_characters="\x00"),
                                                           max_size=8)).map(json.dumps)),  # jsonb has no NUL
                         min_size=0, max_size=40)


@pytest.fixture
async def pool(database_url):
    async with migrated(database_url, "sim_fleet") as pool:
        yield pool


async def test_rows_are_numbered_in_the_order_given_and_kept_whole(pool) -> None:
    given_rows = [(f"t.{i % 3}", f"k{i % 5}".encode() if i % 7 else None, f"v{i}".encode(),
                   json.dumps({"event-type": "E", "n": str(i)})) for i in range(300)]
    async with pool.acquire() as conn, conn.transaction():
        await insert_outbox(conn, given_rows)
        stored = await conn.fetch("select topic, key, value, headers from outbox order by seq")
    assert [(r["topic"], r["key"], r["value"], json.loads(r["headers"])) for r in stored] == \
        [(t, k, v, json.loads(h)) for t, k, v, h in given_rows]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(rows_strategy, max_size=4))
async def test_any_rows_round_trip_in_order(pool, batches) -> None:
    async with pool.acquire() as conn:
        await conn.execute("delete from outbox")
        for rows in batches:
            await insert_outbox(conn, rows)
        stored = await conn.fetch("select topic, key, value, headers from outbox order by seq")
    assert [(r["topic"], r["key"], r["value"], json.loads(r["headers"])) for r in stored] == \
        [(t, k, v, json.loads(h)) for rows in batches for t, k, v, h in rows]
