"""Waiting on a real system without timed assertions: poll until a condition holds or a generous timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 60, interval: float = 0.25) -> bool:
    """Polls the async ``check`` until it is truthy; returns whether it was, checking once more at the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return bool(await check())
