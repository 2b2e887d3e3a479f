"""A poll batch's run of QuotaReserved events handled in one go, on the in-memory store: one statement per kind
of row, one cycle, each event emitted through its own reservation's UnitOfWork, and the same rows and words as
one by one (only the order within the batch may differ)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from scheduler_builders import inventoried, reserved
from test_scheduler_engine import placer_with

from libs.platform.unit_of_work import UnitOfWork
from services.scheduler.handlers import SchedulerHandlers
from tests.support.scheduler_store import InMemorySchedulerStore


class CountingStore:
    """Wraps a store and counts the calls of each of its methods (a call is a round trip on PostgreSQL)."""

    def __init__(self, store: InMemorySchedulerStore) -> None:
        self.store, self.calls = store, Counter()

    def __getattr__(self, name: str):
        method = getattr(self.store, name)

        async def counted(*args, **kwargs):
            self.calls[name] += 1
            return await method(*args, **kwargs)
        return counted


def handlers_with(*nodes) -> tuple[SchedulerHandlers, CountingStore]:
    store = CountingStore(InMemorySchedulerStore())
    return SchedulerHandlers(placer_with(*nodes), load=None, store=store), store


def units(events, outbox: list) -> list[UnitOfWork]:
    """One UnitOfWork per event, as the batch consumer makes them: a shared outbox, each with its own trace."""
    return [UnitOfWork(conn=None, producer="scheduler", namespace="t", cause=e, outbox_rows=outbox,
                       trace={"traceparent": f"00-{i + 1:032x}-{i + 1:016x}-01"}) for i, e in enumerate(events)]


def said(uow: UnitOfWork) -> list[tuple]:
    return [(e.type, e.workload_id, getattr(e, "reason", None), getattr(e, "message", None)) for e in uow.emitted]


async def one_by_one(events, *nodes) -> tuple[list[list[tuple]], InMemorySchedulerStore]:
    h, store = handlers_with(*nodes)
    words = []
    for event, uow in zip(events, units(events, [])):
        await h.handle_quota_reserved(event, uow)
        words.append(said(uow))
    return words, store.store


@pytest.mark.asyncio
async def test_a_batch_of_reservations_is_placed_in_one_cycle_with_one_statement_per_kind_of_row() -> None:
    h, store = handlers_with(*(inventoried(f"n{i}") for i in range(4)))
    events = [reserved(f"w{i}").pods("p", 1, gpu=8).build() for i in range(3)] + [
        reserved("urgent").priority(5).pods("p", 1, gpu=8).build()]
    outbox: list[tuple] = []
    uows = units(events, outbox)
    await h.router().batch_handlers["QuotaReserved"](events, uows)

    assert [said(u)[0][:2] for u in uows] == [("WorkloadPlaced", e.workload_id) for e in events]
    assert set(store.store.placements) == {"w0", "w1", "w2", "urgent"} and not store.store.pending
    assert store.calls == {"add_pending_many": 1, "delete_pending_many": 1, "save_placements": 1}
    # the cycle's order (priority, then arrival), each event under its own reservation's trace and cause
    headers = [json.loads(row[3]) for row in outbox]
    assert [json.loads(row[2])["workload_id"] for row in outbox] == ["urgent", "w0", "w1", "w2"]
    assert [h["traceparent"] for h in headers] == [uows[i].trace["traceparent"] for i in (3, 0, 1, 2)]
    assert all(store.store.placements[e.workload_id].trace == u.trace for e, u in zip(events, uows))


@pytest.mark.asyncio
async def test_the_later_of_two_reservations_of_a_workload_in_one_batch_wins() -> None:
    nodes = (inventoried("e1", cluster="east"), inventoried("w1", cluster="west"))
    h, store = handlers_with(*nodes)
    events = [reserved("w").flavor("east", "a100").pods("p", 1, gpu=8).build(),
              reserved("other").flavor("east", "a100").pods("p", 1, gpu=8).build(),
              reserved("w").flavor("west", "a100").pods("p", 1, gpu=4).build()]
    uows = units(events, [])
    await h.handle_quota_reserved_batch(events, uows)

    assert said(uows[0]) == []  # replaced by quota's newer decision before it was placed: no word of its own
    assert [s[:2] for s in said(uows[1])] == [("WorkloadPlaced", "other")]
    assert [s[:2] for s in said(uows[2])] == [("WorkloadPlaced", "w")]
    placed = store.store.placements["w"]
    assert placed.cluster == "west" and sum(len(p.gpus) for p in placed.pods) == 4 and placed.trace == uows[2].trace
    assert store.calls["add_pending_many"] == 1 and not store.store.pending
    one = await one_by_one(events[1:], *nodes)  # the earlier reservation of w left out: what one by one ends with
    assert {w: (r.cluster, r.pods) for w, r in one[1].placements.items()} == {
        w: (r.cluster, r.pods) for w, r in store.store.placements.items()}


@pytest.mark.asyncio
async def test_a_batch_mixing_a_fit_a_never_fits_and_two_waits_says_what_one_by_one_says() -> None:
    events = [reserved("fits").pods("p", 1, gpu=8).build(), reserved("huge").pods("p", 1, gpu=16).build(),
              reserved("waits").pods("p", 1, gpu=8).build(), reserved("waits-too").pods("p", 1, gpu=8).build()]
    h, store = handlers_with(inventoried("n1"))
    uows = units(events, [])
    await h.handle_quota_reserved_batch(events, uows)

    words, alone = await one_by_one(events, inventoried("n1"))
    assert [said(u) for u in uows] == words
    assert [w[0][:3] for w in words] == [("WorkloadPlaced", "fits", None), ("WorkloadUnschedulable", "huge",
                                         "never-fits"), ("WorkloadUnschedulable", "waits", "InsufficientGpu"),
                                         ("WorkloadUnschedulable", "waits-too", "InsufficientGpu")]
    rows = store.store
    assert set(rows.placements) == set(alone.placements) == {"fits"}
    assert {w: (r.seq, r.last_reason) for w, r in rows.pending.items()} == {
        w: (r.seq, r.last_reason) for w, r in alone.pending.items()}
    assert set(rows.pending) == {"waits", "waits-too"} and set(h.placer.pending) == {"waits", "waits-too"}
    assert store.calls == {"add_pending_many": 1, "delete_pending_many": 1, "save_placements": 1,
                           "set_pending_reason": 2}
