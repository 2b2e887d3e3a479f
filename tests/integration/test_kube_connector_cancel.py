"""The Kubernetes connector's handlers and a cancel, on a real PostgreSQL (no API server needed: handlers only
write rows): every copy of the cancellation moves a live workload to evicting once, and a placement that arrives
after the cancel already ended the workload gives its nodes straight back (WorkloadFailed, reason cancelled), so
the scheduler never keeps nodes for it whatever order the topics deliver in."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from libs.events import PodAssignment, PodSet, Tenant, WorkloadCancelled, WorkloadPlaced, WorkloadSpec
from libs.platform import store
from libs.platform.clock import SimClock
from services.kube_connector import repository as repo
from services.kube_connector import status
from services.kube_connector.app import DEFINITION
from services.kube_connector.handlers import ConnectorHandlers
from tests.integration.test_quota_never_stuck import handle

pytestmark = pytest.mark.integration
NLP = Tenant(org="acme", team="nlp")


class Connector:
    """Just enough of a QuotaHandlers-shaped object for ``handle``: the pool."""

    def __init__(self, pool) -> None:
        self.pool = pool


@pytest.fixture
async def connector(database_url):
    pool = await store.create_pool(database_url, "kube_connector_test", size=2)
    await store.migrate(pool, "kube_connector_test", DEFINITION.service_dir)
    yield Connector(pool)
    await pool.close()


def handlers(touched: list[str]) -> ConnectorHandlers:
    clock = SimClock(time.time(), datetime.now(UTC), 1.0)
    return ConnectorHandlers("onprem-dc1", clock, touch=touched.append, touch_node=lambda _: None, now=time.time)


async def add(connector, wid: str, phase: str) -> None:
    async with connector.pool.acquire() as conn:
        await repo.insert_workload(conn, workload_id=wid, kind="BatchJob", org="acme", team="nlp", templates={},
                                   meta={"namespace": "nlp", "name": wid, "uid": f"uid-{wid}"}, pod_count=1,
                                   phase=phase, change=status.submitted(), now=status.utc_now(), trace="{}")


async def row(connector, wid: str) -> repo.WorkloadRow:
    async with connector.pool.acquire() as conn:
        return await repo.get(conn, wid)


def cancelled(wid: str) -> WorkloadCancelled:
    return WorkloadCancelled(workload_id=wid, tenant=NLP, cancelled_at=datetime.now(UTC), cancelled_by="ci@acme",
                             reason="wrong input")


def placed(wid: str) -> WorkloadPlaced:
    spec = WorkloadSpec(name=wid, pod_sets=(PodSet(name="main", count=1),))
    return WorkloadPlaced(workload_id=wid, tenant=NLP, cluster="onprem-dc1", spec=spec,
                          assignments=(PodAssignment(pod_set="main", index=0, node_id="onprem-dc1/cpu-0"),))


async def test_each_copy_of_a_cancel_stops_a_live_workload_once(connector):
    touched: list[str] = []
    h = handlers(touched)
    await add(connector, "w-run", "running")
    await add(connector, "w-done", "succeeded")
    for _ in range(3):  # admission's, quota's and the scheduler's copies
        assert await handle(connector, h.handle_workload_event, cancelled("w-run")) == []
        assert await handle(connector, h.handle_workload_event, cancelled("w-done")) == []
        assert await handle(connector, h.handle_workload_event, cancelled("w-unknown")) == []
    r = await row(connector, "w-run")
    assert (r.phase, r.evict_reason, r.evict_message) == ("evicting", "cancelled", "cancelled by ci@acme: wrong input")
    assert (await row(connector, "w-done")).phase == "succeeded"
    assert touched == ["w-run"]  # the runner is woken once, to delete the pods and report the end


async def test_a_placement_after_the_cancel_ended_the_workload_gives_the_nodes_straight_back(connector):
    h = handlers([])
    await add(connector, "w-wait", "reserved")
    await handle(connector, h.handle_workload_event, cancelled("w-wait"))  # admission's copy, before placement
    async with connector.pool.acquire() as conn:  # the runner found no pods: it reported the end (phase failed)
        assert await repo.transition(conn, "w-wait", status.cancelled("cancelled"), now=status.utc_now(),
                                     phase="failed", only_from=("evicting",))
    emitted = await handle(connector, h.handle_workload_event, placed("w-wait"))  # the scheduler had placed it
    assert [(e.type, e.reason) for e in emitted] == [("WorkloadFailed", "cancelled")]
    r = await row(connector, "w-wait")
    assert (r.phase, r.attempt) == ("failed", 0)  # no pod is made for it
    assert await handle(connector, h.handle_workload_event, cancelled("w-wait")) == []  # the scheduler's copy
