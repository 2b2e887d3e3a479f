"""The consumer's retry policy (libs/platform/retrying.py, on tenacity), on the in-memory tables of
test_consumer_inbox: a lost database is waited out with growing pauses capped at 5 s and costs no attempt; a
failing handler is dead-lettered after exactly max_attempts; the dead letter itself waits out the database; and
cancellation is never retried, not even in the middle of a pause. No test waits out a pause."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from libs.platform import telemetry
from libs.platform.consumer import Consumer
from libs.platform.unit_of_work import Router
from tests.unit.platform.test_consumer_inbox import FakePool, Tables, letters, record, succeeded


def consumer(handler, tables: Tables, down: list[int], *, max_attempts: int, backoff_s: float = 0.2) -> Consumer:
    return Consumer(service="svc", namespace="t", pool=FakePool(tables, down),
                    router=Router(handlers={"WorkloadSucceeded": handler}), allowed=frozenset({"WorkloadSucceeded"}),
                    max_attempts=max_attempts, backoff_s=backoff_s, metrics=telemetry.ServiceMetrics("svc"),
                    on_commit=lambda: None)


@pytest.mark.parametrize(("backoff_s", "expected"), [
    pytest.param(0.2, [0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0], id="doubling-to-the-5s-cap"),
    pytest.param(0.05, [0.1, 0.2, 0.4, 0.8, 1.6, 1.6, 1.6], id="at-most-five-doublings"),
])
async def test_a_lost_database_is_waited_out_with_growing_capped_pauses_using_no_attempt(
        pauses, caplog, backoff_s, expected):
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(1)

    c = consumer(handle, tables, [7], max_attempts=1, backoff_s=backoff_s)  # one attempt: a transient one would end it
    with caplog.at_level(logging.WARNING, logger="batchyard.consumer"):
        assert await c.process(record(succeeded("w1"))) == "handled"
    assert pauses == pytest.approx(expected)
    assert calls == [1] and not letters(tables)
    assert "svc: transient failure on WorkloadSucceeded" in caplog.text
    assert f"(ConnectionRefusedError('database down')); retrying in {expected[0]:.1f}s" in caplog.text


@pytest.mark.parametrize("rollback", [asyncpg.DeadlockDetectedError, asyncpg.SerializationError])
async def test_a_deadlock_or_serialization_failure_is_retried_using_no_attempt(pauses, rollback):
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(1)
        if len(calls) < 3:
            raise rollback("deadlock detected" if rollback is asyncpg.DeadlockDetectedError else "could not serialize")

    c = consumer(handle, tables, [0], max_attempts=1)  # one attempt: were it counted, the record would be lost
    assert await c.process(record(succeeded("w1"))) == "handled"
    assert calls == [1, 1, 1] and not letters(tables) and len(pauses) == 2


@pytest.mark.parametrize("max_attempts", [1, 3, 5])
async def test_a_failing_handler_is_dead_lettered_after_exactly_max_attempts(pauses, caplog, max_attempts):
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(1)
        raise ValueError("bug")

    c = consumer(handle, tables, [0], max_attempts=max_attempts)
    with caplog.at_level(logging.WARNING, logger="batchyard.consumer"):
        assert await c.process(record(succeeded("w1"))) == "dead-lettered"
    assert len(calls) == max_attempts
    [letter] = letters(tables)
    assert (letter["reason"], letter["attempts"], letter["error"]) == ("handler-error", max_attempts, "ValueError: bug")
    assert pauses == pytest.approx([0.2 * 2 ** n for n in range(max_attempts - 1)])  # 0.2, 0.4, 0.8, ...
    assert f"failed {max_attempts} times, dead-lettering" in caplog.text
    if max_attempts > 1:
        assert f"(ValueError('bug'), attempt 1 of {max_attempts}); retrying in 0.2s" in caplog.text


async def test_database_losses_between_failed_attempts_use_none_of_them_and_the_letter_waits_too(pauses):
    tables, calls, down = Tables(), [], [0]

    async def handle(event, uow):
        calls.append(1)
        down[0] = 2  # the database goes away for the next two transactions
        raise ValueError("bug")

    c = consumer(handle, tables, down, max_attempts=3)
    assert await c.process(record(succeeded("w1"))) == "dead-lettered"
    assert len(calls) == 3 and [letter["attempts"] for letter in letters(tables)] == [3]
    # per failed attempt: its pause (0.2, 0.4), then the outage's (0.4, 0.8, a new outage starts from the first);
    # after the third, the dead letter retries its transaction every second
    assert pauses == pytest.approx([0.2, 0.4, 0.8, 0.4, 0.4, 0.8, 1.0, 1.0])


async def test_cancellation_is_raised_at_once_never_retried_nor_dead_lettered(pauses):
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(1)
        raise asyncio.CancelledError

    c = consumer(handle, tables, [0], max_attempts=3)
    with pytest.raises(asyncio.CancelledError):
        await c.process(record(succeeded("w1")))
    assert calls == [1] and pauses == [] and not letters(tables) and not tables.inbox


@pytest.mark.parametrize("failure", ["database-down", "handler-bug"])
async def test_a_consumer_in_a_pause_stops_when_cancelled(endless_pauses, until, failure):
    tables = Tables()

    async def handle(event, uow):
        raise ValueError("bug")

    c = consumer(handle, tables, [10**6 if failure == "database-down" else 0], max_attempts=3)
    task = asyncio.create_task(c.process(record(succeeded("w1"))))
    await until(lambda: endless_pauses)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(endless_pauses) == 1 and not letters(tables)  # no attempt after the cancel
