"""Group commit for callers that come one at a time: the calls handed in meanwhile are served together.

Each caller awaits ``GroupCall(item)``; one writer task takes everything waiting (at most ``group`` at once) and
hands it to ``many``, which returns one result per item, in order. While it runs, new calls queue for the next
group, so under load the groups grow by themselves and when idle a call is served at once (no timer, no linger).

A group that raises is served again one item at a time: an item ``many`` refuses fails alone (its caller gets the
exception), and the rest get their results. ``many`` must therefore be safe to repeat for a group that failed: a
transaction that rolled back is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("batchyard.platform.group_call")


class GroupCall(Generic[T, R]):
    """Serves ``await call(item)`` by ``many(items) -> results`` over the items waiting together."""

    def __init__(self, many: Callable[[list[T]], Awaitable[list[R]]], *, group: int = 500, name: str = "") -> None:
        if group < 1:
            raise ValueError(f"group must be at least 1, got {group}")
        self.many, self.group, self.name = many, group, name or getattr(many, "__name__", "group call")
        self.waiting: list[tuple[T, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        self.groups = 0  # calls of ``many`` that succeeded (tests and the curious read it)

    async def __call__(self, item: T) -> R:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._serve_all())
        return await done

    async def _serve_all(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:self.group], self.waiting[self.group:]
            try:
                results = await self._many([item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each item again alone: the one refused fails alone
                if len(batch) > 1:
                    log.warning("%s: a group of %d failed (%r); serving them one by one", self.name, len(batch), exc)
                    for item, done in batch:
                        await self._serve_alone(item, done)
                elif not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                continue
            for (_, done), result in zip(batch, results):
                if not done.done():  # its caller may have been cancelled meanwhile
                    done.set_result(result)

    async def _serve_alone(self, item: T, done: asyncio.Future) -> None:
        try:
            [result] = await self._many([item])
        except Exception as exc:  # noqa: BLE001 - its caller decides (it retries what is transient)
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(result)

    async def _many(self, items: list[T]) -> list[R]:
        results = await self.many(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: {len(results)} results for {len(items)} items")
        self.groups += 1
        return results
