"""The retry policies of the platform's loops (consumer, dead letters, outbox relay, leader lock), on tenacity.

A policy retries only ``Exception``s its predicate accepts: asyncio.CancelledError (a BaseException) is never
retried, and a pause ends as soon as its task is cancelled, so stopping a service never waits out a backoff.
Policies are built per use (a record, a loop): tenacity's per-object state is then never shared between tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, stop_never
from tenacity.retry import retry_base
from tenacity.wait import wait_base, wait_exponential

TRANSIENT_CAP_S = 5.0  # the longest pause after a transient failure: the database is noticed back within 5 s
TRANSIENT_DOUBLINGS = 5  # a transient pause doubles at most this often: 32 × backoff_s, if under the cap


async def pause(seconds: float) -> None:
    """Waits between attempts (unit tests replace it, so no test waits out a backoff)."""
    await asyncio.sleep(seconds)


def forever(*, retry: retry_base, wait: wait_base,
            before_sleep: Callable[[RetryCallState], None]) -> AsyncRetrying:
    """Returns a policy that retries, without end, every failure (or result) ``retry`` accepts; others are raised."""
    return AsyncRetrying(retry=retry, wait=wait, stop=stop_never, before_sleep=before_sleep,
                         sleep=pause, reraise=True)


def at_most(attempts: int, *, wait: wait_base, before_sleep: Callable[[RetryCallState], None]) -> AsyncRetrying:
    """Returns a policy that makes up to ``attempts`` attempts while they raise an Exception, then raises
    tenacity's RetryError (its ``last_attempt`` holds the last failure and its number)."""
    return AsyncRetrying(retry=retry_if_exception_type(Exception), wait=wait, stop=stop_after_attempt(attempts),
                         before_sleep=before_sleep, sleep=pause)


def transient_backoff(backoff_s: float) -> wait_base:
    """Returns the pause after the n-th transient failure: backoff_s × 2ⁿ, n at most 5, never over 5 s."""
    longest = min(TRANSIENT_CAP_S, backoff_s * 2 ** TRANSIENT_DOUBLINGS)
    return wait_exponential(multiplier=2 * backoff_s, max=longest)


def failure_backoff(backoff_s: float) -> wait_base:
    """Returns the pause after the n-th failed handling attempt: backoff_s × 2ⁿ⁻¹, uncapped as before
    (max_attempts is small: 3 by default)."""
    return wait_exponential(multiplier=backoff_s)


def warn(logger: logging.Logger, message: str, *args: object,
         attempts: int | None = None) -> Callable[[RetryCallState], None]:
    """Returns a before_sleep hook that logs ``message % args``, the failure (and which of ``attempts`` it was, if
    they are counted) and the pause: 'svc: transient failure on E (OSError(...)); retrying in 0.4s'."""
    def log_pause(state: RetryCallState) -> None:
        counted = f", attempt {state.attempt_number} of {attempts}" if attempts else ""
        logger.warning(f"{message} (%r%s); retrying in %.1fs", *args, state.outcome.exception(), counted,
                       state.upcoming_sleep)
    return log_pause
