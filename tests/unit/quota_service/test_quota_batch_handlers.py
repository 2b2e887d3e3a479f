"""Quota's batch handlers on the in-memory store: a poll batch's run of accepted, placed or finished workloads reads
and writes the store a fixed number of times, not once per workload (each call is a round trip on PostgreSQL), and
leaves the events and rows one-by-one handling leaves: a workload cancelled first is never queued, a resubmitted one
is not queued again, of two copies in one run only the first counts, a workload placed after its reservation expired
is evicted through its own placement's unit of work, and a suspended run that ended by itself is finished once."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.events import Event, WorkloadCancelled, WorkloadFailed, WorkloadPlaced, WorkloadSucceeded, WorkloadSuspended
from libs.platform.unit_of_work import UnitOfWork
from services.quota.handlers import QuotaHandlers
from tests.support.quota_store import CountingQuotaStore, InMemoryQuotaStore
from tests.unit.quota_service.test_quota_handlers_in_memory import CONFIG, TENANT, Clock, Conn, accepted, handle, kinds

# reservations not placed within a minute are released and requeued (Kueue's waitForPodsReady)
READY = CONFIG + """---
apiVersion: config.kueue.x-k8s.io/v1beta1
kind: Configuration
waitForPodsReady: {enable: true, timeout: 60s, requeuingStrategy: {backoffBaseSeconds: 10}}
"""


def counted_quota(config: str = CONFIG) -> tuple[QuotaHandlers, CountingQuotaStore]:
    store = CountingQuotaStore(InMemoryQuotaStore(config))
    return QuotaHandlers(None, clock=Clock(), store=store), store


async def run(quota: QuotaHandlers, events: list[Event]) -> list[list[Event]]:
    """Hands ``events`` to their batch handler as the consumer hands it a run (one UnitOfWork each, all on one
    connection) and commits; returns what each event's unit of work emitted."""
    conn = Conn()
    uows = [UnitOfWork(conn=conn, producer="quota", namespace="t", cause=e) for e in events]
    await quota.router().batch_handlers[events[0].type](events, uows)
    for uow in uows:
        await uow.run_after_commit()
    return [uow.emitted for uow in uows]


async def one_by_one(quota: QuotaHandlers, events: list[Event]) -> list[list[Event]]:
    """Handles ``events`` each in its own transaction, as a failed batch is redone."""
    return [await handle(quota, event) for event in events]


AT = datetime(2026, 1, 1, tzinfo=UTC)


def cancelled(wid: str) -> WorkloadCancelled:
    return WorkloadCancelled(workload_id=wid, tenant=TENANT, cancelled_at=AT)


def succeeded(wid: str) -> WorkloadSucceeded:
    return WorkloadSucceeded(workload_id=wid, tenant=TENANT, cluster="onprem-dc1")


def placed(wid: str) -> WorkloadPlaced:
    return WorkloadPlaced(workload_id=wid, tenant=TENANT, cluster="onprem-dc1", assignments=(),
                          spec=accepted(wid).spec)


async def test_a_run_of_accepted_workloads_reads_and_writes_the_store_once():
    quota, store = counted_quota()
    await handle(quota, accepted("first", gpus=1))  # builds the engine from the store
    store.calls.clear()
    await run(quota, [accepted(f"w{i}", gpus=1) for i in range(6)])
    assert store.calls == {"cancelled_among": 1, "insert_workloads": 1, "persist": 1}
    assert set(quota.engine.reservations) == {"first", *(f"w{i}" for i in range(6))}


async def test_a_run_of_accepted_workloads_leaves_what_one_by_one_leaves():
    """A run holding a workload cancelled first, one already stored (resubmitted) and two copies of one workload."""
    def events() -> list[Event]:
        return [accepted("x", gpus=4), accepted("gone", gpus=4), accepted("old", gpus=4), accepted("y", gpus=4),
                accepted("y", gpus=2), accepted("z", gpus=8)]

    outcomes = []
    for handled_as in (run, one_by_one):
        quota, store = counted_quota()
        await handle(quota, accepted("old", gpus=2))
        await handle(quota, cancelled("gone"))  # before quota saw it
        emitted = await handled_as(quota, events())
        assert "gone" not in store.workloads and "gone" not in quota.known
        assert '"gpu":4' in store.workloads["y"]["spec"]  # the first copy; the second changed nothing
        assert store.workloads["old"]["spec"] == accepted("old", gpus=2).spec.model_dump_json()
        outcomes.append((sorted(kinds([e for batch in emitted for e in batch])), store.states(),
                         set(quota.engine.reservations), dict(quota.told)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == {"old": "reserved", "x": "reserved", "y": "pending", "z": "pending"}


async def test_a_run_of_placements_writes_the_store_once():
    quota, store = counted_quota()
    for wid in ("a", "b", "c"):
        await handle(quota, accepted(wid, gpus=2))
    store.calls.clear()
    await run(quota, [placed("a"), placed("b"), placed("c")])
    assert store.calls == {"saw_placed": 1, "mark_placed": 1}
    assert {wid: row["placed"] for wid, row in store.store.workloads.items()} == {"a": True, "b": True, "c": True}


async def test_a_run_of_placements_leaves_what_one_by_one_leaves():
    """A run holding a placement that came after its reservation expired, a placement of a suspended run still
    stopping, a second placement of one workload and a first one."""
    outcomes = []
    for handled_as in (run, one_by_one):
        quota, store = counted_quota(READY)
        for wid in ("a", "late", "held"):
            await handle(quota, accepted(wid, gpus=2))
        await handle(quota, WorkloadSuspended(workload_id="held", tenant=TENANT, suspended_at=AT))
        await handle(quota, placed("a"))
        quota.clock.now += 61  # "late" was never placed in time: the next cycle releases and requeues it
        assert ("QuotaReleased", "late") in kinds(await handle(quota, accepted("next", gpus=2)))
        emitted = await handled_as(quota, [placed("a"), placed("late"), placed("held"), placed("next")])
        assert kinds(emitted[1]) == [("PreemptionRequested", "late")]  # through its own placement
        assert emitted[1][0].reason == "PodsReadyTimeout"
        assert emitted[0] == emitted[2] == emitted[3] == []
        assert store.suspended["held"]["placed"] and not store.suspended["held"]["stopped"]
        rows = {wid: (row["state"], row["placed"]) for wid, row in store.workloads.items()}
        assert rows == {"a": ("reserved", True), "late": ("pending", False), "held": ("suspended", False),
                        "next": ("reserved", True)}
        outcomes.append((rows, {wid: quota.engine.where(wid) for wid in rows},
                         {wid: r.placed for wid, r in quota.engine.reservations.items()}))
    assert outcomes[0] == outcomes[1]


async def test_a_run_of_ends_writes_the_store_once():
    quota, store = counted_quota()
    for wid in ("a", "b", "c", "d"):
        await handle(quota, accepted(wid, gpus=2))
    store.calls.clear()
    failed = WorkloadFailed(workload_id="b", tenant=TENANT, cluster="onprem-dc1", reason="OOMKilled")
    await run(quota, [succeeded("a"), failed, succeeded("c"), succeeded("d")])
    assert store.calls == {"ended_by_themselves": 1, "persist": 1}
    assert store.store.states() == {"a": "finished", "b": "finished", "c": "finished", "d": "finished"}


async def test_a_run_of_ends_leaves_what_one_by_one_leaves():
    """A run holding the end of a suspended run still stopping (it ended by itself), a second end of that workload,
    and an end that frees the quota a waiting workload needs."""
    outcomes = []
    for handled_as in (run, one_by_one):
        quota, store = counted_quota()
        for wid, gpus in (("a", 4), ("s", 4), ("b", 8)):
            await handle(quota, accepted(wid, gpus))
        await handle(quota, placed("s"))
        await handle(quota, WorkloadSuspended(workload_id="s", tenant=TENANT, suspended_at=AT))
        emitted = await handled_as(quota, [succeeded("s"), succeeded("s"), succeeded("a")])
        assert [kinds(e) for e in emitted] == [[], [], [("QuotaReleased", "a"), ("QuotaReserved", "b")]]
        assert store.suspended == {}  # the suspension is forgotten: a resume has nothing to queue
        assert store.states() == {"a": "finished", "s": "finished", "b": "reserved"}
        outcomes.append((store.states(), set(quota.engine.reservations), set(quota.known)))
    assert outcomes[0] == outcomes[1]
