"""The Kubernetes connector set-wise (ADR 0022), on a real PostgreSQL.

Its workload handlers over a poll batch: a run of accepted, pending, reserved, placed, preempted, cancelled and
suspended events is two statements (the rows read and locked, then written), and leaves every row, status,
Kubernetes Event to write and emitted event exactly as handling the same events one at a time does.

Its intake's records: objects submitted at once share one commit; a record the database refuses fails alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from libs.events import (
    FlavorAssignment,
    PodAssignment,
    PodSet,
    PreemptionRequested,
    QuotaReserved,
    Tenant,
    WorkloadAccepted,
    WorkloadCancelled,
    WorkloadPending,
    WorkloadPlaced,
    WorkloadRunning,
    WorkloadSpec,
    WorkloadSubmitted,
    WorkloadSuspended,
)
from libs.platform.clock import SimClock
from libs.platform.unit_of_work import UnitOfWork
from services.kube_connector import repository as repo
from services.kube_connector import status
from services.kube_connector.app import DEFINITION
from services.kube_connector.handlers import ConnectorHandlers
from services.kube_connector.recorder import Record, Recorder
from services.kube_connector.runner import WorkloadRunner
from tests.support.pools import migrated_pools

pytestmark = pytest.mark.integration
NLP = Tenant(org="acme", team="nlp")
SPEC = WorkloadSpec(name="w", queue="nlp", pod_sets=(PodSet(name="main", count=2),))
COLUMNS = ("workload_id, phase, attempt, cluster_queue, assignments, evict_reason, evict_message, status, "
           "status_version, notices, failures, backoff_limit")


class Counting:
    """A connection that counts the statements sent through it."""

    def __init__(self, conn) -> None:
        self.conn, self.statements = conn, 0

    def __getattr__(self, name):
        attr = getattr(self.conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            async def counted(*args, **kwargs):
                self.statements += 1
                return await attr(*args, **kwargs)
            return counted
        return attr


@pytest.fixture
async def pools(database_url):
    async with migrated_pools(database_url, ("kube_connector_one", "kube_connector_run"), DEFINITION.service_dir,
                              "workloads, outbox") as made:
        yield made


def handlers(touched: list[str]) -> ConnectorHandlers:
    clock = SimClock(1_700_000_000.0, datetime(2026, 1, 1, tzinfo=UTC), 1.0)
    return ConnectorHandlers("onprem-dc1", clock, touch=touched.append, touch_node=lambda _: None,
                             now=lambda: 1_700_000_000.0)


async def seed(pool, phases: dict[str, str]) -> None:
    async with pool.acquire() as conn:
        for wid, phase in phases.items():
            await repo.insert_workload(conn, workload_id=wid, kind="BatchJob", org="acme", team="nlp", templates={},
                                       meta={"namespace": "nlp", "name": wid, "uid": f"uid-{wid}"}, pod_count=2,
                                       phase=phase, change=status.submitted(), now="2026-01-01T00:00:00Z",
                                       trace="{}")


def events() -> list:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    placed = [PodAssignment(pod_set="main", index=i, node_id=f"onprem-dc1/cpu-{i}") for i in range(2)]
    reserved = dict(cluster_queue="cq-nlp", flavors=(FlavorAssignment(pod_set="main", flavor="cpu"),))
    out = []
    for wid in ("w-a", "w-b", "w-c"):  # the whole way from submitted to placed, interleaved
        out.append(WorkloadAccepted(workload_id=wid, tenant=NLP, spec=SPEC))
    for wid in ("w-a", "w-b", "w-c"):
        out.append(WorkloadPending(workload_id=wid, tenant=NLP, reason="Waiting", message="for quota", position=2))
        out.append(QuotaReserved(workload_id=wid, tenant=NLP, spec=SPEC, **reserved))
    for wid in ("w-a", "w-b", "w-c", "w-gone", "w-unknown"):
        out.append(WorkloadPlaced(workload_id=wid, tenant=NLP, cluster="onprem-dc1", spec=SPEC, assignments=placed))
    out.append(WorkloadPlaced(workload_id="w-a", tenant=NLP, cluster="onprem-dc1", spec=SPEC,
                              assignments=placed))  # a second placement of one run: ignored
    out.append(PreemptionRequested(workload_id="w-b", tenant=NLP, preemptor="w-hi", reason="Preempted",
                                   message="a higher priority gang"))
    out.append(WorkloadCancelled(workload_id="w-c", tenant=NLP, cancelled_at=at, cancelled_by="ci@acme"))
    out.append(WorkloadCancelled(workload_id="w-c", tenant=NLP, cancelled_at=at, cancelled_by="ci@acme"))
    out.append(WorkloadSuspended(workload_id="w-wait", tenant=NLP, suspended_by="ci@acme", suspended_at=at,
                                 placed=False))
    return out


async def rows_of(pool) -> list[dict]:
    return [dict(r) for r in await pool.fetch(f"select {COLUMNS} from workloads order by workload_id")]


async def one_by_one(pool, h: ConnectorHandlers, evs: list) -> list:
    emitted = []
    for event in evs:
        async with pool.acquire() as conn, conn.transaction():
            uow = UnitOfWork(conn=conn, producer="kube-connector", namespace="t", cause=event)
            await h.handle_workload_event(event, uow)
        await uow.run_after_commit()
        emitted += [(type(e).__name__, e.workload_id, getattr(e, "reason", None)) for e in uow.emitted]
    return emitted


async def as_a_run(pool, h: ConnectorHandlers, evs: list) -> tuple[list, int]:
    async with pool.acquire() as raw, raw.transaction():
        conn = Counting(raw)
        outbox: list[tuple] = []  # as the consumer does: the batch's outbox rows go in with its inbox, at the end
        uows = [UnitOfWork(conn=conn, producer="kube-connector", namespace="t", cause=e, outbox_rows=outbox)
                for e in evs]
        await h.handle_workload_events(evs, uows)
    for uow in uows:
        await uow.run_after_commit()
    emitted = [(type(e).__name__, e.workload_id, getattr(e, "reason", None)) for u in uows for e in u.emitted]
    return emitted, conn.statements


async def test_a_run_of_workload_events_is_two_statements_and_ends_as_one_by_one(pools):
    one, run = pools
    phases = {"w-a": "submitted", "w-b": "submitted", "w-c": "submitted", "w-gone": "deleted",
              "w-wait": "pending"}
    for pool in pools:
        await seed(pool, phases)
    touched_one, touched_run = [], []
    emitted_one = await one_by_one(one, handlers(touched_one), events())
    emitted_run, statements = await as_a_run(run, handlers(touched_run), events())

    assert statements == 2  # one by one: at least a read and a write for each of the 19 events
    assert emitted_run == emitted_one == [("WorkloadFailed", "w-gone", "deleted")]
    assert touched_run == touched_one
    got, want = await rows_of(run), await rows_of(one)
    assert got == want
    by_id = {r["workload_id"]: r for r in got}
    assert (by_id["w-a"]["phase"], by_id["w-a"]["attempt"]) == ("placed", 1)
    assert (by_id["w-b"]["phase"], by_id["w-b"]["evict_reason"]) == ("evicting", "preempted")
    assert (by_id["w-c"]["phase"], by_id["w-c"]["evict_reason"]) == ("evicting", "cancelled")
    assert by_id["w-wait"]["phase"] == "evicted"
    assert by_id["w-a"]["status_version"] == 5  # submitted, accepted, pending, reserved, placed


async def test_a_run_that_names_no_known_workload_writes_nothing(pools):
    _, run = pools
    h = handlers([])
    async with run.acquire() as raw, raw.transaction():
        conn = Counting(raw)
        evs = [WorkloadAccepted(workload_id="w-nobody", tenant=NLP, spec=SPEC)]
        await h.handle_workload_events(evs, [UnitOfWork(conn=conn, producer="kube-connector", namespace="t")])
    assert conn.statements == 1  # the read; nothing to write
    assert await rows_of(run) == []


def submitted_row(i: int, name: str | None = None) -> Record:
    wid = f"onprem-dc1-nlp-job-{i}"
    event = WorkloadSubmitted(workload_id=wid, tenant=NLP, spec=SPEC, token="t")
    row = repo.new_workload(workload_id=wid, kind="BatchJob", meta={"namespace": "nlp", "name": name or f"job-{i}",
                                                                    "uid": f"uid-{i}"},
                            org="acme", team="nlp", templates={}, pod_count=2, phase="submitted",
                            change=status.submitted(), now="2026-01-01T00:00:00Z", trace="{}")
    return Record(row, event, {})


async def outbox_events(pool) -> int:
    return await pool.fetchval(
        "select count(*) from outbox where position('\"WorkloadSubmitted\"'::bytea in value) > 0")


async def test_objects_submitted_at_once_are_recorded_in_one_commit_and_a_known_one_again_in_none(pools):
    _, run = pools
    await run.execute("truncate outbox")
    recorder = Recorder(run, "t")
    fresh = await asyncio.gather(*(recorder.record(submitted_row(i)) for i in range(50)))
    assert fresh == [True] * 50
    assert recorder.commits == 1  # one at a time: 50
    assert await run.fetchval("select count(*) from workloads") == 50
    assert await outbox_events(run) == 50
    assert await recorder.record(submitted_row(7)) is False  # a relist: known already, nothing published
    assert await outbox_events(run) == 50


async def test_a_record_the_database_refuses_fails_alone_and_the_rest_of_its_group_is_recorded(pools):
    _, run = pools
    await run.execute("truncate outbox")
    recorder = Recorder(run, "t")
    records = [submitted_row(i, name="bad\x00name" if i == 3 else None) for i in range(6)]
    results = await asyncio.gather(*(recorder.record(r) for r in records), return_exceptions=True)
    assert isinstance(results[3], asyncpg.PostgresError), results[3]
    assert [r for i, r in enumerate(results) if i != 3] == [True] * 5
    assert await run.fetchval("select count(*) from workloads") == 5
    assert await outbox_events(run) == 5


async def test_the_reconciler_reads_its_rows_together_and_commits_its_phase_changes_together(pools):
    """Reconciles in flight share their database work: 20 workloads starting at once are one read and one commit;
    a workload no longer in the phase a change needs is left as it is, and the rest still move."""
    _, run = pools
    await run.execute("truncate outbox")
    phases = {f"w-{i:02d}": "placed" for i in range(20)} | {"w-over": "succeeded"}
    await seed(run, phases)
    clock = SimClock(1_700_000_000.0, datetime(2026, 1, 1, tzinfo=UTC), 1.0)
    emitted: list[int] = []
    runner = WorkloadRunner(api=None, pool=run, intake=None, pods=None, cluster="onprem-dc1",
                            scheduler_name="batchyard", clock=clock, namespace="t",
                            on_emitted=lambda: emitted.append(1), now=lambda: 1_700_000_000.0)

    rows = await asyncio.gather(*(runner._reads(wid) for wid in [*phases, "w-nobody"]))
    assert runner._reads.groups == 1
    assert rows[-1] is None and [r.workload_id for r in rows[:-1]] == list(phases)

    await asyncio.gather(*(runner._emit(row, WorkloadRunning(cluster="onprem-dc1"), status.running(2), "running",
                                        ("placed",)) for row in rows[:-1]))
    assert runner._moves.groups == 1
    assert len(emitted) == 21
    after = {r["workload_id"]: (r["phase"], r["status_version"]) for r in await rows_of(run)}
    assert after == {wid: ("running", 2) for wid in phases if wid != "w-over"} | {"w-over": ("succeeded", 1)}
    assert await run.fetchval("select count(*) from outbox "
                              "where position('\"WorkloadRunning\"'::bytea in value) > 0") == 20


async def test_the_resync_reads_only_what_finds_a_workload_and_node_loss_reads_the_assignments(pools):
    """The resync's rows are four columns; a node's loss finds its workloads by their assignments, which those
    rows no longer carry (a deleted node's pods may be gone already)."""
    _, run = pools
    await seed(run, {"w-run": "running", "w-placed": "placed", "w-evicting": "evicting", "w-done": "succeeded"})
    on = {"w-run": "onprem-dc1/cpu-1", "w-placed": "onprem-dc1/cpu-2", "w-evicting": "onprem-dc1/cpu-1",
          "w-done": "onprem-dc1/cpu-1"}
    for wid, node in on.items():
        await run.execute("update workloads set assignments = $2::jsonb where workload_id = $1", wid,
                          f'[{{"pod_set": "main", "index": 0, "node_id": "{node}"}}]')
    async with run.acquire() as conn:
        active = await repo.active(conn)
        placed = dict(await repo.placed_assignments(conn))
    assert sorted((r.workload_id, r.phase, r.namespace) for r in active) == [
        ("w-evicting", "evicting", "nlp"), ("w-placed", "placed", "nlp"), ("w-run", "running", "nlp")]
    assert placed == {"w-run": [{"pod_set": "main", "index": 0, "node_id": "onprem-dc1/cpu-1"}],
                      "w-placed": [{"pod_set": "main", "index": 0, "node_id": "onprem-dc1/cpu-2"}]}


async def test_objects_deleted_at_once_end_their_workloads_in_one_commit_and_an_ended_one_stays_as_it_was(pools):
    """Deletions handled together (thousands found gone when the connector starts) share one transaction; a
    workload admission had answered emits its failure (reason deleted), one it had not emits nothing, and one that
    had ended, or is unknown, is left alone."""
    from types import SimpleNamespace

    from services.kube_connector.intake import Intake
    from services.kube_connector.kinds import KINDS
    from services.kube_connector.translate import workload_id

    _, run = pools
    await run.execute("truncate outbox")
    objs = {phase: {"metadata": {"namespace": "nlp", "name": f"job-{phase}", "uid": f"uid-{phase}-0000"}}
            for phase in ("submitted", "pending", "placed", "running", "succeeded", "unknown")}
    async with run.acquire() as conn:
        for phase, obj in objs.items():
            if phase != "unknown":
                await repo.insert_workload(conn, workload_id=workload_id("onprem-dc1", obj), kind="BatchJob",
                                           org="acme", team="nlp", templates={}, meta=obj["metadata"], pod_count=1,
                                           phase=phase, change=status.submitted(), now="2026-01-01T00:00:00Z",
                                           trace="{}")
    clock = SimClock(1_700_000_000.0, datetime(2026, 1, 1, tzinfo=UTC), 1.0)
    emitted: list[int] = []
    intake = Intake(api=None, pool=run, config=SimpleNamespace(cluster="onprem-dc1"), signer=None, clock=clock,
                    namespace="t", on_submitted=lambda _: None, on_emitted=lambda: emitted.append(1),
                    now=lambda: 1_700_000_000.0)
    kind = KINDS["BatchJob"]
    await asyncio.gather(*(intake.forget(kind, obj) for obj in [*objs.values(), objs["placed"]]))  # one twice
    assert intake._deletions.groups == 1 and len(emitted) == 7
    phases = {r["workload_id"].split(".")[2]: r["phase"] for r in await rows_of(run)}
    assert phases == {"job-submitted": "deleted", "job-pending": "deleted", "job-placed": "deleted",
                      "job-running": "deleted", "job-succeeded": "succeeded"}
    failed = await run.fetch("select value from outbox where position('\"WorkloadFailed\"'::bytea in value) > 0")
    assert len(failed) == 3  # pending, placed, running: once each, with the reason
    assert all(b'"reason":"deleted"' in bytes(r["value"]).replace(b" ", b"") for r in failed)
