"""Waiting at start-up for a dependency that is not up yet (PostgreSQL, Kafka).

A service started before its database or broker retries the connection with bounded exponential backoff
(0.5 s doubling to 10 s), logs one line per failed attempt, and gives up after ``Settings.startup_wait_s``
with one clear error. Retrying is tenacity's; this module only says what to retry, how long, and what to log.
SIGTERM while waiting needs nothing here: FastStream cancels the start-up task, and the sleep ends with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type, wait_exponential

log = logging.getLogger("batchyard.startup")
FIRST_PAUSE_S = 0.5  # the first retry comes soon: a dependency started at the same moment is often up by then
LONGEST_PAUSE_S = 10.0  # never longer between attempts, so a service notices a late dependency within 10 s
T = TypeVar("T")


class DependencyUnavailable(RuntimeError):
    """A dependency did not answer within the start-up wait; the message is the one line an operator reads."""


async def wait_for(what: str, address: str, connect: Callable[[], Awaitable[T]], *, limit_s: float,
                   transient: tuple[type[BaseException], ...],
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                   clock: Callable[[], float] = time.monotonic) -> T:
    """Returns what ``connect()`` returns, retrying the ``transient`` failures until ``limit_s`` seconds have passed.

    ``what`` and ``address`` name the dependency in the log (never a DSN: it may hold a password). Any other
    failure (a wrong password, a missing database) is raised at once: waiting would not mend it. Past the limit,
    raises DependencyUnavailable. ``sleep`` and ``clock`` are injected so tests wait for nothing."""
    deadline = clock() + limit_s
    backoff = wait_exponential(multiplier=FIRST_PAUSE_S, max=LONGEST_PAUSE_S)

    def pause(state: RetryCallState) -> float:  # the last pause ends at the deadline: one last attempt there
        return min(backoff(state), max(0.0, deadline - clock()))

    def progress(state: RetryCallState) -> None:
        log.warning("waiting for %s at %s (attempt %d, next in %s s): %s", what, address, state.attempt_number,
                    f"{round(state.upcoming_sleep, 1):g}", reason(state.outcome.exception()))

    retrying = AsyncRetrying(retry=retry_if_exception_type(transient), wait=pause,
                             stop=lambda _: clock() >= deadline, before_sleep=progress, sleep=sleep)
    async def attempt() -> T:  # tenacity awaits only coroutine functions; a lambda's coroutine would be returned
        return await connect()

    try:
        return await retrying(attempt)
    except RetryError as gave_up:
        last = gave_up.last_attempt
        raise DependencyUnavailable(
            f"gave up waiting for {what} at {address} after {last.attempt_number} attempt(s) over {limit_s:g} s "
            f"(BATCHYARD_STARTUP_WAIT_S): {reason(last.exception())}") from last.exception()


def reason(exc: BaseException | None) -> str:
    """Returns a short reason for a failed connection: 'connection refused' rather than the errno and address."""
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timed out"
    return str(exc) or type(exc).__name__
