"""One active instance, warm standbys (the scheduler, quota): leadership is a session-level Postgres advisory lock.

The leader holds ``pg_advisory_lock`` on a dedicated connection for as long as it lives. A SIGKILL closes
that connection, Postgres releases the lock, and a standby polling ``pg_try_advisory_lock`` takes it
within a poll interval. A standby does not start its Kafka consumer (it never joins the group) until it
leads. Every handler transaction is fenced: it checks that the lock's session is still this instance's,
so a leader cut off from Postgres cannot commit a placement after a standby took over.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
from collections.abc import Callable

import asyncpg
from tenacity import RetryCallState, retry_if_exception_type, retry_if_not_result, wait_fixed

from libs.platform import retrying

log = logging.getLogger("batchyard.leader")
LOCK_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # retried: a standby outlives a database blip

# Server-side keepalives on the lock session: a leader host that vanishes without closing its socket
# loses the lock in about idle + interval × count seconds.
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


def step_down() -> None:
    """Leaves gracefully (SIGTERM to ourselves): a process manager restarts us as a standby."""
    os.kill(os.getpid(), signal.SIGTERM)


class LeadershipLost(ConnectionError):
    """This instance no longer holds the leader lock. A ConnectionError: the consumer retries, never dead-letters."""


def lock_key(schema: str) -> int:
    """Returns the advisory lock key of a schema's leader (distinct from the migration lock)."""
    return int.from_bytes(hashlib.sha256(f"{schema}:leader".encode()).digest()[:8], "big", signed=True)


class LeaderLease:
    """The leader lock of one service schema, held on its own connection (the schema needs a ``leadership``
    table: term bigserial, instance text, backend_pid integer, acquired_at timestamptz)."""

    def __init__(self, dsn: str, schema: str, instance: str, *, poll_s: float = 0.5) -> None:
        self.dsn, self.schema, self.instance, self.poll_s = dsn, schema, instance, poll_s
        self.key = lock_key(schema)
        self.conn: asyncpg.Connection | None = None  # the session that holds the lock
        self.backend_pid: int | None = None  # its server process id, for fencing
        self.term: int | None = None  # this leadership's number in the leadership log

    async def acquire(self) -> int:
        """Waits until this instance holds the lock (trying every ``poll_s``, through any database error); records
        and returns the new term."""
        trying = retrying.forever(retry=retry_if_exception_type(LOCK_ERRORS) | retry_if_not_result(bool),
                                  wait=wait_fixed(self.poll_s), before_sleep=self._standing_by)
        await trying(self._try_lock)
        self.backend_pid = self.conn.get_server_pid()
        self.term = await self.conn.fetchval("insert into leadership(instance, backend_pid) values ($1, $2) "
                                             "returning term", self.instance, self.backend_pid)
        log.info("%s: leading (term %d)", self.instance, self.term)
        return self.term

    async def _try_lock(self) -> bool:
        """Returns whether this instance now holds the lock, (re)connecting its session first if need be."""
        try:
            if self.conn is None or self.conn.is_closed():
                self.conn = await asyncpg.connect(self.dsn, server_settings={
                    "search_path": f'"{self.schema}"', "application_name": f"{self.schema}-leader", **KEEPALIVES})
            return await self.conn.fetchval("select pg_try_advisory_lock($1)", self.key)
        except LOCK_ERRORS:
            self.conn = None  # the next try opens a new session
            raise

    def _standing_by(self, state: RetryCallState) -> None:
        if state.outcome.failed:
            retrying.warn(log, "%s: leader lock", self.instance)(state)
        if state.attempt_number == 1:
            log.info("%s: standing by (another instance leads)", self.instance)

    async def fence(self, conn: asyncpg.Connection) -> None:
        """Raises LeadershipLost unless the lock is still held by this instance's session (inside ``conn``'s tx)."""
        held = await conn.fetchval(
            "select exists(select 1 from pg_locks where locktype = 'advisory' and granted and pid = $1 "
            "and database = (select oid from pg_database where datname = current_database()) "
            "and classid = (($2::bigint >> 32) & 4294967295)::oid and objid = ($2::bigint & 4294967295)::oid)",
            self.backend_pid, self.key)
        if not held:
            raise LeadershipLost(f"{self.instance} lost the {self.schema} leadership (term {self.term})")

    async def watch(self, on_lost: Callable[[], None], every_s: float = 1.0) -> None:
        """Pings the lock session; calls ``on_lost`` once if it is gone (the lock went with it)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.wait_for(self.conn.fetchval("select 1"), timeout=max(5.0, every_s * 5))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as exc:
                log.error("%s: lost the leader lock session (%r); stepping down", self.instance, exc)
                on_lost()
                return

    async def release(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.close()  # closing the session releases the lock
        self.conn = None
