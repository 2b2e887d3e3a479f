"""The outbox relay alone (no Kafka, no PostgreSQL): rows go out oldest first, are deleted only once every one of
the batch was confirmed, and a failed publish leaves the whole batch to be sent again (consumers' inboxes drop
the repeats: effectively once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest

from libs.platform.outbox import OutboxRelay


class FakeConn:
    def __init__(self, table: dict[int, dict]) -> None:
        self.table = table

    @contextlib.asynccontextmanager
    async def transaction(self):
        yield

    async def fetch(self, sql: str, limit: int) -> list[dict]:
        assert "order by seq" in sql and "for update skip locked" in sql
        return [self.table[seq] for seq in sorted(self.table)[:limit]]

    async def execute(self, sql: str, seqs: list[int]) -> None:
        assert sql.startswith("delete from outbox")
        for seq in seqs:
            del self.table[seq]


class FakePool:
    def __init__(self, table: dict[int, dict]) -> None:
        self.conn = FakeConn(table)

    @contextlib.asynccontextmanager
    async def acquire(self):
        yield self.conn


class FakeBroker:
    """A broker whose deliveries are futures the test settles: confirmed, failed, or left pending."""

    def __init__(self, fail_on: set[bytes] = frozenset()) -> None:
        self.sent: list[tuple[str, bytes, bytes, dict]] = []
        self.fail_on = set(fail_on)

    async def publish(self, value: bytes, topic: str, *, key: bytes, headers: dict, no_confirm: bool):
        assert no_confirm
        self.sent.append((topic, key, value, headers))
        delivery = asyncio.get_running_loop().create_future()
        if value in self.fail_on:
            delivery.set_exception(ConnectionError("broker went away"))
        else:
            delivery.set_result(None)
        return delivery


def outbox(*values: bytes) -> dict[int, dict]:
    return {seq: {"seq": seq, "topic": f"t{seq % 2}", "key": f"k{seq}".encode(), "value": value,
                  "headers": json.dumps({"type": "E", "n": str(seq)})}
            for seq, value in zip((5, 2, 9, 7), values)}


async def test_rows_go_out_oldest_first_in_batches_and_are_deleted_once_confirmed():
    table = outbox(b"five", b"two", b"nine", b"seven")
    broker = FakeBroker()
    relay = OutboxRelay(FakePool(table), broker, batch=3, poll_s=0.1)
    assert await relay.relay_once() == 3
    assert [v for _, _, v, _ in broker.sent] == [b"two", b"five", b"seven"]  # by seq, not by insertion
    assert sorted(table) == [9]
    assert await relay.drain() == 1 and not table and relay.published == 4
    assert broker.sent[0] == ("t0", b"k2", b"two", {"type": "E", "n": "2"})  # headers decoded from the row


async def test_a_failed_publish_deletes_nothing_and_the_batch_is_sent_again():
    table = outbox(b"five", b"two", b"nine")
    broker = FakeBroker(fail_on={b"five"})
    relay = OutboxRelay(FakePool(table), broker, batch=10, poll_s=0.1)
    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert sorted(table) == [2, 5, 9] and relay.published == 0  # nothing lost, nothing marked sent
    broker.fail_on.clear()
    assert await relay.relay_once() == 3 and not table
    assert [v for _, _, v, _ in broker.sent] == [b"two", b"five", b"nine"] * 2  # the same order, again


async def test_the_running_relay_outlives_failures_pausing_1s_after_each_and_stops_when_told(pauses, until, caplog):
    table = outbox(b"five")
    broker = FakeBroker(fail_on={b"five"})
    relay = OutboxRelay(FakePool(table), broker, batch=10, poll_s=0.01)
    with caplog.at_level(logging.WARNING, logger="batchyard.outbox"):
        relay.start()
        await until(lambda: len(broker.sent) >= 3)
        broker.fail_on.clear()  # the broker is back: the retry after the pause sends and deletes the row
        await until(lambda: not table)
        await relay.stop()
    assert relay.published == 1 and len(broker.sent) == len(pauses) + 1  # one pause after each failed try
    assert set(pauses) == {1.0}
    assert "outbox relay (ConnectionError('broker went away')); retrying in 1.0s" in caplog.text


async def test_a_relay_in_its_pause_stops_at_once_when_told(endless_pauses, until):
    table = outbox(b"five")
    relay = OutboxRelay(FakePool(table), FakeBroker(fail_on={b"five"}), batch=10, poll_s=0.01)
    relay.start()
    await until(lambda: endless_pauses)
    await relay.stop()  # cancels the relay: the pause ends, nothing is retried
    assert relay._task.cancelled() and endless_pauses == [1.0] and sorted(table) == [5]


async def test_cancellation_inside_a_batch_is_not_retried(pauses):
    class CancelledBroker(FakeBroker):
        async def publish(self, value, topic, **kwargs):
            raise asyncio.CancelledError

    relay = OutboxRelay(FakePool(outbox(b"five")), CancelledBroker(), batch=10, poll_s=0.01)
    relay.start()
    with pytest.raises(asyncio.CancelledError):
        await relay._task
    assert pauses == []
