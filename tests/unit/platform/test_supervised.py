"""A supervised loop that fails or ends is started again (and logged), never left dead; woken returns on news or
on time; spawn keeps a task until it ends."""

from __future__ import annotations

import asyncio

from libs.platform.periodic import spawn, supervised, woken


async def test_a_failing_or_ending_loop_is_started_again(caplog):
    runs = []

    async def flaky():
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("boom")
        if len(runs) == 2:
            return
        await asyncio.Event().wait()

    task = asyncio.create_task(supervised(flaky, name="flaky", max_backoff_s=0.01))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(runs) >= 3:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(runs) == 3 and "flaky failed" in caplog.text and "flaky ended" in caplog.text


async def test_woken_returns_on_news_or_on_time_and_clears_the_news():
    wake = asyncio.Event()
    wake.set()
    await asyncio.wait_for(woken(wake, 10), timeout=1)
    assert not wake.is_set()
    await asyncio.wait_for(woken(wake, 0.01), timeout=1)


async def test_spawn_keeps_a_task_until_it_ends():
    tasks: set = set()
    gate = asyncio.Event()
    task = spawn(tasks, gate.wait())
    assert task in tasks
    gate.set()
    await task
    await asyncio.sleep(0)
    assert not tasks
