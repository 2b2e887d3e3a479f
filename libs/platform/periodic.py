"""Background work a service repeats on a period (quota's timer, node repair's planner, the cost closer, the
simulated fleet's ticker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("batchyard.periodic")


async def every(period_s: float, step: Callable[[], Awaitable[object]], *, name: str,
                wake: Callable[[], None] | None = None) -> None:
    """Runs ``step`` now and then every ``period_s`` until cancelled.

    A truthy result calls ``wake`` (the outbox relay: the step committed events to publish). A step that raises
    is logged and simply runs again next period: it works in its own transactions, so nothing half-done stays.
    """
    while True:
        try:
            if await step() and wake is not None:
                wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a Postgres hiccup or a bug: retried next period, never fatal
            log.warning("%s failed: %r", name, exc, exc_info=True)
        await asyncio.sleep(period_s)


async def supervised(run: Callable[[], Awaitable[object]], *, name: str, max_backoff_s: float = 5.0) -> None:
    """Runs the long-lived loop ``run`` until cancelled, starting it again (after a capped, growing pause) if it
    ever returns or raises: a bug or an unforeseen error in one loop is logged, never a silently dead task."""
    backoff = 0.2
    while True:
        try:
            await run()
            log.warning("%s ended; starting it again", name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever it was, the loop must go on; the log keeps the trace
            log.error("%s failed: %r; starting it again in %.1fs", name, exc, backoff, exc_info=True)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)


async def woken(wake: asyncio.Event, timeout_s: float) -> None:
    """Waits until ``wake`` is set or ``timeout_s`` passes, then clears it: a loop's 'until there is news, or it is
    time anyway'."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=timeout_s)
    except asyncio.TimeoutError:
        pass
    wake.clear()


def spawn(tasks: set[asyncio.Task], work: Awaitable[object]) -> asyncio.Task:
    """Starts ``work`` as a task kept in ``tasks`` until it ends (so it is neither collected early nor leaked)."""
    task = asyncio.ensure_future(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task
