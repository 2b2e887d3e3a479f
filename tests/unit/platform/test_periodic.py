"""libs.platform.periodic.every: the loop behind the services' timers."""

from __future__ import annotations

import asyncio

from libs.platform.periodic import every


async def test_a_failing_step_is_retried_next_period_and_a_truthy_one_wakes_the_relay(caplog) -> None:
    results, woken = iter([RuntimeError("postgres hiccup"), 0, 3]), []

    async def step() -> int:
        outcome = next(results)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    task = asyncio.create_task(every(0.001, step, name="test tick", wake=lambda: woken.append(True)))
    for _ in range(2000):  # bounded: a broken loop fails the assertion below instead of hanging
        if woken:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert woken == [True]  # 0 did not wake, 3 did
    assert "test tick failed: RuntimeError('postgres hiccup')" in caplog.text
