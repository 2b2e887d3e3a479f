"""Group commit (``libs.platform.group_call``): calls made meanwhile are served together, in order; an item the
group's work refuses fails alone; a call made when nothing waits is served at once."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.platform.group_call import GroupCall


class Doubler:
    def __init__(self, refuse: set[int] = frozenset()) -> None:
        self.refuse, self.groups = refuse, []

    async def __call__(self, items: list[int]) -> list[int]:
        await asyncio.sleep(0)  # a round trip: calls made meanwhile queue for the next group
        self.groups.append(list(items))
        if self.refuse & set(items):
            raise ValueError(f"refused {sorted(self.refuse & set(items))}")
        return [2 * i for i in items]


async def test_calls_made_together_are_one_group_and_each_gets_its_own_result():
    work = Doubler()
    call = GroupCall(work, group=100)
    assert await asyncio.gather(*(call(i) for i in range(50))) == [2 * i for i in range(50)]
    assert work.groups == [list(range(50))]
    assert call.groups == 1


async def test_groups_are_at_most_group_long_and_keep_the_order_of_the_calls():
    work = Doubler()
    call = GroupCall(work, group=8)
    assert await asyncio.gather(*(call(i) for i in range(20))) == [2 * i for i in range(20)]
    assert work.groups == [list(range(8)), list(range(8, 16)), list(range(16, 20))]


async def test_an_item_refused_fails_alone_and_the_rest_of_its_group_is_served():
    work = Doubler(refuse={3})
    call = GroupCall(work)
    results = await asyncio.gather(*(call(i) for i in range(6)), return_exceptions=True)
    assert isinstance(results[3], ValueError) and "refused [3]" in str(results[3])
    assert [r for i, r in enumerate(results) if i != 3] == [0, 2, 4, 8, 10]
    assert work.groups[0] == list(range(6))  # tried together first, then one by one
    assert sorted(map(tuple, work.groups[1:])) == [(i,) for i in range(6)]


async def test_a_wrong_number_of_results_is_an_error_for_every_caller_not_a_silent_mismatch():
    async def short(items):
        return items[:-1]

    call = GroupCall(short, name="short")
    results = await asyncio.gather(call(1), call(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "short: 0 results for 1 items" in str(r) for r in results)


async def test_a_caller_cancelled_while_waiting_leaves_the_others_served():
    gate = asyncio.Event()

    async def slow(items):
        await gate.wait()
        return items

    call = GroupCall(slow)
    first = asyncio.create_task(call("a"))
    second = asyncio.create_task(call("b"))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "b"
    with pytest.raises(asyncio.CancelledError):
        await first


def test_a_group_size_below_one_is_refused():
    with pytest.raises(ValueError, match="group must be at least 1"):
        GroupCall(Doubler(), group=0)


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers(0, 30), max_size=40), refuse=st.sets(st.integers(0, 30), max_size=3),
       group=st.integers(1, 12))
def test_every_caller_gets_its_own_answer_whatever_the_grouping(items, refuse, group):
    async def run():
        call = GroupCall(Doubler(refuse), group=group)
        return await asyncio.gather(*(call(i) for i in items), return_exceptions=True)

    results = asyncio.run(run())
    for item, result in zip(items, results):
        if item in refuse:
            assert isinstance(result, ValueError)
        else:
            assert result == 2 * item
