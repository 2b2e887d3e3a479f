"""Taking the leader lock (libs/platform/leader.py) without PostgreSQL: a standby tries every poll_s while another
instance leads or the database is away (through connection and server errors, on a new session after one), says
once that it stands by, takes the lock when it is free, and stops at once when cancelled. No test waits a pause."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from libs.platform import leader
from libs.platform.leader import LeaderLease


class FakeSession:
    """A lock session whose ``pg_try_advisory_lock`` answers from a script (False, True, or an error to raise)."""

    def __init__(self, answers: list) -> None:
        self.answers = answers

    def is_closed(self) -> bool:
        return False

    def get_server_pid(self) -> int:
        return 4242

    async def fetchval(self, sql: str, *args):
        if "pg_try_advisory_lock" in sql:
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        assert sql.startswith("insert into leadership") and args == ("i-1", 4242), (sql, args)
        return 7


@pytest.fixture
def connects(monkeypatch) -> list:
    """Returns the script of ``asyncpg.connect``: each call takes the next session, or raises the next error."""
    script: list = []

    async def connect(dsn: str, **kwargs):
        answer = script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(leader.asyncpg, "connect", connect)
    return script


async def test_a_standby_tries_every_poll_through_errors_and_leads_once_the_lock_is_free(connects, pauses, caplog):
    second = FakeSession([False, True])
    connects.extend([ConnectionRefusedError("refused"), FakeSession([False, asyncpg.AdminShutdownError()]), second])
    lease = LeaderLease("postgresql://db", "scheduler", "i-1", poll_s=0.5)
    with caplog.at_level(logging.INFO, logger="batchyard.leader"):
        assert await lease.acquire() == 7
    assert lease.conn is second and lease.backend_pid == 4242 and not connects  # a new session after the error
    assert pauses == [0.5] * 4  # refused, held elsewhere, server error, held elsewhere
    assert caplog.text.count("standing by (another instance leads)") == 1
    assert caplog.text.count("i-1: leader lock (") == 2 and "retrying in 0.5s" in caplog.text
    assert "i-1: leading (term 7)" in caplog.text


async def test_an_error_that_is_not_the_database_s_is_raised_at_once(connects, pauses):
    connects.append(RuntimeError("a bug"))
    with pytest.raises(RuntimeError):
        await LeaderLease("postgresql://db", "quota", "i-1").acquire()
    assert pauses == []


async def test_a_standby_stops_at_once_when_cancelled(connects, endless_pauses, until):
    connects.append(FakeSession([False] * 10))
    task = asyncio.create_task(LeaderLease("postgresql://db", "quota", "i-1", poll_s=0.5).acquire())
    await until(lambda: endless_pauses)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert endless_pauses == [0.5]
