"""Waiting at start-up for a dependency that is not up yet: backoff, progress lines, the limit, on a fake clock."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from libs.localinfra._proc import free_port
from libs.platform import store
from libs.platform.startup_wait import DependencyUnavailable, wait_for


class FakeTime:
    """A clock that moves only when slept on; records every pause."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def refusing(times: int, error: BaseException | None = None):
    """Returns a connect that fails ``times`` times (connection refused, unless ``error``), then returns 'pool'."""
    calls = []

    async def connect() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error or ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 5432)")
        return "pool"
    connect.calls = calls
    return connect


async def waited(connect, fake: FakeTime, limit_s: float = 300.0):
    return await wait_for("PostgreSQL", "db:5432", connect, limit_s=limit_s, transient=store.UNREACHABLE,
                          sleep=fake.sleep, clock=fake.clock)


async def test_a_dependency_that_comes_up_is_waited_for_with_doubling_pauses_and_one_line_per_attempt(caplog):
    fake = FakeTime()
    with caplog.at_level(logging.WARNING, logger="batchyard.startup"):
        assert await waited(refusing(4), fake) == "pool"
    assert fake.pauses == [0.5, 1, 2, 4]
    assert caplog.messages == [
        "waiting for PostgreSQL at db:5432 (attempt 1, next in 0.5 s): connection refused",
        "waiting for PostgreSQL at db:5432 (attempt 2, next in 1 s): connection refused",
        "waiting for PostgreSQL at db:5432 (attempt 3, next in 2 s): connection refused",
        "waiting for PostgreSQL at db:5432 (attempt 4, next in 4 s): connection refused"]


async def test_pauses_stop_growing_at_ten_seconds():
    fake = FakeTime()
    await waited(refusing(9), fake)
    assert fake.pauses == [0.5, 1, 2, 4, 8, 10, 10, 10, 10]


async def test_past_the_limit_it_gives_up_with_one_clear_error_after_a_last_attempt_at_the_deadline():
    fake = FakeTime()
    connect = refusing(1000)
    with pytest.raises(DependencyUnavailable) as gave_up:
        await waited(connect, fake, limit_s=30)
    assert fake.pauses == [0.5, 1, 2, 4, 8, 10, 4.5]  # the last pause is cut to end at the deadline
    assert len(connect.calls) == 8
    assert str(gave_up.value) == ("gave up waiting for PostgreSQL at db:5432 after 8 attempt(s) over 30 s "
                                  "(BATCHYARD_STARTUP_WAIT_S): connection refused")


async def test_a_limit_of_zero_fails_at_once():
    fake = FakeTime()
    with pytest.raises(DependencyUnavailable, match="after 1 attempt"):
        await waited(refusing(1), fake, limit_s=0)
    assert fake.pauses == []


@pytest.mark.parametrize("error", [asyncpg.InvalidPasswordError("password authentication failed"),
                                   asyncpg.InvalidCatalogNameError('database "x" does not exist')],
                         ids=["wrong password", "missing database"])
async def test_a_failure_waiting_cannot_mend_is_raised_at_once(error):
    fake = FakeTime()
    with pytest.raises(type(error)):
        await waited(refusing(1, error), fake)
    assert fake.pauses == []


async def test_a_server_still_starting_is_waited_for():
    fake = FakeTime()
    assert await waited(refusing(2, asyncpg.CannotConnectNowError("the database system is starting up")),
                        fake) == "pool"


@pytest.mark.parametrize("dsn, shown", [
    ("postgresql://svc:s3cret@db.internal:6432/batchyard", "db.internal:6432"),
    ("postgresql://svc:s3cret@db.internal/batchyard", "db.internal:5432"),
    ("postgres://svc:p%40ss@[::1]:5433/x?sslmode=require", "[::1]:5433"),
    ("host=db port=6000 user=svc password=s3cret dbname=batchyard", "db:6000"),
], ids=["url", "url without port", "ipv6", "key=value"])
def test_the_address_shown_names_host_and_port_and_never_the_password(dsn, shown):
    assert store.address(dsn) == shown


async def test_a_real_refused_connection_is_logged_without_the_password(caplog):
    dsn = f"postgresql://svc:s3cret-pw@127.0.0.1:{free_port()}/batchyard"  # nothing listens there
    fake = FakeTime()
    with caplog.at_level(logging.WARNING, logger="batchyard.startup"), pytest.raises(DependencyUnavailable) as gave_up:
        await wait_for("PostgreSQL", store.address(dsn), lambda: store.create_pool(dsn, "svc"), limit_s=1,
                       transient=store.UNREACHABLE, sleep=fake.sleep, clock=fake.clock)
    said = "\n".join([*caplog.messages, str(gave_up.value)])
    assert "connection refused" in caplog.messages[0] and "s3cret" not in said and "svc" not in said, said
