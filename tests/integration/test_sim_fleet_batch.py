"""The simulated fleet starts a poll batch's placements with one insert, on real PostgreSQL (no Kafka): every
placement's pods row as one by one wrote it, and one WorkloadRunning per run that started, however many copies of
a placement the batch holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events import PodAssignment, PodSet, Resources, Tenant, WorkloadPlaced, WorkloadSpec, retried
from libs.fleet.spec import FaultSpec
from libs.platform.clock import SimClock
from libs.platform.unit_of_work import UnitOfWork
from services.sim_fleet.handlers import FleetHandlers
from tests.support.schemas import migrated

pytestmark = pytest.mark.integration
NOW = 1_000_000.0
CLOCK = SimClock(NOW, datetime(2026, 3, 1, tzinfo=UTC), 600.0)


@pytest.fixture
async def pool(database_url):
    async with migrated(database_url, "sim_fleet") as pool:
        yield pool


def placed(wid: str, nodes: tuple[str, ...], *, failures: int = 0, tenant: Tenant | None = None) -> WorkloadPlaced:
    spec = WorkloadSpec(name=wid, queue="q", duration_s=60, backoff_limit=1,
                        pod_sets=(PodSet(name="main", count=len(nodes), requests=Resources(cpu_milli=100)),))
    return WorkloadPlaced(workload_id=wid, tenant=tenant, cluster="c1", spec=spec, failures=failures,
                          assignments=tuple(PodAssignment(pod_set="main", index=i, node_id=n)
                                            for i, n in enumerate(nodes)))


async def handle(pool, handlers: FleetHandlers, events: list, *, together: bool) -> list:
    async with pool.acquire() as conn, conn.transaction():
        uows = [UnitOfWork(conn=conn, producer="sim-fleet", namespace="t", cause=e) for e in events]
        if together:
            await handlers.handle_workload_placed_batch(events, uows)
        else:
            for event, uow in zip(events, uows):
                await handlers.handle_workload_placed(event, uow)
    return [e for uow in uows for e in uow.emitted]


async def test_a_run_of_placements_starts_each_once_with_the_rows_one_by_one_writes(pool) -> None:
    handlers = FleetHandlers(CLOCK, FaultSpec(pod_failure_probability=0.5), now=lambda: NOW)
    acme = Tenant(org="acme", team="nlp")
    await handle(pool, handlers, [placed("running", ("n1",), tenant=acme)], together=False)
    run = [placed("a", ("n2", "n1", "n2"), tenant=acme), placed("running", ("n3",), tenant=acme),
           placed("b", ("n4",), failures=1), placed("a", ("n9",), tenant=acme)]
    emitted = await handle(pool, handlers, run, together=True)
    assert [(e.type, e.workload_id, e.tenant) for e in emitted] == [  # each through its placement's own unit
        ("WorkloadRunning", "a", acme), ("WorkloadRunning", "b", None)]
    async with pool.acquire() as conn:
        rows = {r["workload_id"]: (r["cluster"], r["org"], r["nodes"], r["ends_wall"], r["outcome"], r["attempt"],
                                   r["final"]) for r in await conn.fetch("select * from sim_fleet.pods")}
    expected = {}
    for event in (run[0], run[2]):
        attempt = event.failures + 1
        fails = handlers._fails(event.workload_id, attempt)
        expected[event.workload_id] = (
            "c1", event.tenant.org if event.tenant else None, sorted({a.node_id for a in event.assignments}),
            CLOCK.wall_after(NOW, 60 * (0.5 if fails else 1.0)), "failed" if fails else "succeeded", attempt,
            not retried("pod-failed", attempt, 1))
    assert {w: rows[w] for w in ("a", "b")} == expected
    assert rows["running"][2] == ["n1"]  # the run already here kept its pods
