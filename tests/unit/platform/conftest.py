"""Fixtures shared by the platform's unit tests."""

from __future__ import annotations

import asyncio

import pytest

from libs.platform import retrying


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """Returns the pauses the platform's retry policies take, in order; none is waited out."""
    taken: list[float] = []

    async def pause(seconds: float) -> None:
        taken.append(seconds)
        await asyncio.sleep(0)  # still a point where a retry loop lets others run (and can be cancelled)

    monkeypatch.setattr(retrying, "pause", pause)
    return taken


@pytest.fixture
def endless_pauses(monkeypatch) -> list[float]:
    """Returns the pauses taken, as ``pauses``; each one lasts until its task is cancelled."""
    taken: list[float] = []

    async def pause(seconds: float) -> None:
        taken.append(seconds)
        await asyncio.Event().wait()

    monkeypatch.setattr(retrying, "pause", pause)
    return taken


@pytest.fixture
def until():
    """Returns ``until(condition)``: lets the event loop run until ``condition()`` holds (no wall-clock wait)."""
    async def run_until(condition, turns: int = 1000) -> None:
        for _ in range(turns):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError("the condition never held")
    return run_until
