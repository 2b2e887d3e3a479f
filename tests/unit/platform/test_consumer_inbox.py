"""The consumer alone, on an in-memory stand-in for its three tables (inbox, outbox, dead letters) whose
transactions roll back: a redelivered event is handled once; a failing handler is retried, then dead-lettered,
and nothing it emitted escapes; a lost database is waited out, never dead-lettered; a poison record in a batch
costs the batch its speed, not the good records beside it."""

from __future__ import annotations

import base64
import contextlib
import copy
import json

from libs.events import Tenant, WorkloadFailed, WorkloadRunning, WorkloadSucceeded, decode, encode
from libs.events.topics import DEAD_LETTER, LIFECYCLE
from libs.platform import telemetry
from libs.platform.consumer import Consumer, Record
from libs.platform.unit_of_work import OUTBOX_INSERT, OUTBOX_INSERT_MANY, Router

NS = "t"
TOPIC = LIFECYCLE.qualified(NS)


class Tables:
    def __init__(self) -> None:
        self.inbox: set = set()
        self.outbox: list[tuple] = []
        self.letters: set = set()


class FakeConn:
    """Runs the consumer's statements against ``Tables``; a transaction that raises restores them."""

    def __init__(self, tables: Tables, down: list[int]) -> None:
        self.tables, self.down = tables, down

    @contextlib.asynccontextmanager
    async def transaction(self):
        if self.down[0] > 0:  # the database is unreachable for this many more transactions
            self.down[0] -= 1
            raise ConnectionRefusedError("database down")
        saved = copy.deepcopy(self.tables.__dict__)
        try:
            yield
        except BaseException:
            self.tables.__dict__.update(saved)
            raise

    async def fetchval(self, sql: str, *args):
        assert sql.startswith("insert into processed_events"), sql
        fresh = args[0] not in self.tables.inbox
        self.tables.inbox.add(args[0])
        return True if fresh else None

    async def fetch(self, sql: str, ids: list, *columns: list):
        table = self.tables.inbox if sql.startswith("insert into processed_events") else self.tables.letters
        assert sql.startswith(("insert into processed_events", "insert into dead_letters")), sql
        fresh = [(i,) for i in dict.fromkeys(ids) if i not in table]
        table.update(ids)
        return fresh

    async def execute(self, sql: str, *args) -> None:
        assert sql in (OUTBOX_INSERT, OUTBOX_INSERT_MANY), sql
        self.tables.outbox += [args] if sql == OUTBOX_INSERT else list(zip(*args))  # the many: one array a column

    async def executemany(self, sql: str, rows) -> None:
        for row in rows:
            await self.execute(sql, *row)


class FakePool:
    def __init__(self, tables: Tables, down: list[int]) -> None:
        self.conn = FakeConn(tables, down)

    @contextlib.asynccontextmanager
    async def acquire(self):
        yield self.conn


def record(event, offset: int = 0) -> Record:
    return Record(topic=TOPIC, partition=0, offset=offset, key=b"w", value=encode(event), headers={})


def succeeded(wid: str) -> WorkloadSucceeded:
    return WorkloadSucceeded(workload_id=wid, tenant=Tenant(org="acme", team="nlp"), cluster="c1", producer="fleet")


def consumer(handler, tables: Tables, *, down: int = 0, batch_handler=None) -> Consumer:
    router = Router(handlers={"WorkloadSucceeded": handler},
                    batch_handlers={"WorkloadSucceeded": batch_handler} if batch_handler else {})
    return Consumer(service="svc", namespace=NS, pool=FakePool(tables, [down]), router=router,
                    allowed=frozenset({"WorkloadSucceeded"}), max_attempts=3, backoff_s=0,
                    metrics=telemetry.ServiceMetrics("svc"), on_commit=lambda: None)


def letters(tables: Tables) -> list:
    return [json.loads(value) for topic, _, value, _ in tables.outbox if topic == DEAD_LETTER.qualified(NS)]


async def test_a_redelivered_event_is_handled_once():
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(event.workload_id)
        await uow.emit(succeeded(event.workload_id + "-echo"))

    c, event = consumer(handle, tables), succeeded("w1")
    assert [await c.process(record(event)), await c.process(record(event, 1))] == ["handled", "duplicate"]
    assert calls == ["w1"] and len(tables.outbox) == 1


async def test_a_failing_handler_is_retried_then_dead_lettered_and_what_it_emitted_never_escapes():
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(1)
        await uow.emit(succeeded("half-written"))
        raise ValueError("bug")

    c, event = consumer(handle, tables), succeeded("w1")
    assert await c.process(record(event)) == "dead-lettered"
    assert len(calls) == 3  # max_attempts
    [letter] = letters(tables)
    assert (letter["reason"], letter["attempts"], letter["error"]) == ("handler-error", 3, "ValueError: bug")
    assert decode(base64.b64decode(letter["original"])) == event
    assert len(tables.outbox) == 1  # the letter only: each attempt's emission was rolled back
    assert event.event_id not in tables.inbox  # a redelivery once the bug is fixed is handled, not "duplicate"


async def test_a_lost_database_is_waited_out_not_dead_lettered():
    tables, calls = Tables(), []

    async def handle(event, uow):
        calls.append(1)

    c = consumer(handle, tables, down=4)
    assert await c.process(record(succeeded("w1"))) == "handled"
    assert calls == [1] and not letters(tables)


async def test_a_poison_record_in_a_batch_is_dead_lettered_and_the_good_ones_are_handled_once():
    tables = Tables()

    async def handle(event, uow):
        if event.workload_id == "poison":
            raise KeyError("no such row")
        await uow.emit(succeeded(event.workload_id + "-echo"))

    async def handle_batch(events, uows):
        for event, uow in zip(events, uows):
            await handle(event, uow)

    c = consumer(handle, tables, batch_handler=handle_batch)
    events = [succeeded("a"), succeeded("poison"), succeeded("b")]
    outcomes = await c.process_batch([record(e, i) for i, e in enumerate(events)])
    assert outcomes == ["handled", "dead-lettered", "handled"]
    echoes = sorted(json.loads(value)["workload_id"] for topic, _, value, _ in tables.outbox if topic == TOPIC)
    assert echoes == ["a-echo", "b-echo"]  # the failed batch left no trace; each good record was redone once
    assert [letter["reason"] for letter in letters(tables)] == ["handler-error"]
    undecodable = Record(topic=TOPIC, partition=0, offset=9, key=None, value=b"\xff not json", headers={})
    assert await c.process_batch([undecodable, record(succeeded("c"), 10)]) == ["dead-lettered", "handled"]
    assert [letter["reason"] for letter in letters(tables)][-1] == "not-json"


async def test_types_sharing_a_batch_handler_arrive_as_one_run_however_they_interleave():
    """Cost reporting handles placements and run ends in one go: a lifecycle topic alternates WorkloadRunning and
    WorkloadSucceeded, and runs broken at every change of type handed it one event at a time."""
    tables, runs = Tables(), []

    async def together(events, uows):
        runs.append(("together", [e.type for e in events]))

    async def alone(events, uows):
        runs.append(("alone", [e.type for e in events]))

    async def one(event, uow):  # the one-by-one path (a failed batch's redo); not taken here
        raise AssertionError("handled alone")

    types = ("WorkloadRunning", "WorkloadSucceeded", "WorkloadFailed")
    router = Router(handlers=dict.fromkeys(types, one),
                    batch_handlers={"WorkloadRunning": together, "WorkloadSucceeded": together,
                                    "WorkloadFailed": alone})
    c = Consumer(service="svc", namespace=NS, pool=FakePool(tables, [0]), router=router,
                 allowed=frozenset(types), max_attempts=3,
                 backoff_s=0, metrics=telemetry.ServiceMetrics("svc"), on_commit=lambda: None)
    who = {"tenant": Tenant(org="acme", team="nlp"), "cluster": "c1", "producer": "fleet"}
    events = [WorkloadRunning(workload_id="a", **who), WorkloadSucceeded(workload_id="a", **who),
              WorkloadRunning(workload_id="b", **who), WorkloadFailed(workload_id="b", reason="oom", **who),
              WorkloadSucceeded(workload_id="c", **who)]
    assert await c.process_batch([record(e, i) for i, e in enumerate(events)]) == ["handled"] * 5
    assert runs == [("together", ["WorkloadRunning", "WorkloadSucceeded", "WorkloadRunning"]),
                    ("alone", ["WorkloadFailed"]), ("together", ["WorkloadSucceeded"])]
