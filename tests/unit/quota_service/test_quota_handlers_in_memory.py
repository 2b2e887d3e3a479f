"""QuotaHandlers on the in-memory store (tests/support/quota_store.py): each handler runs in a UnitOfWork on a dummy
connection, as the consumer would run it in a transaction, and the test reads what it emitted and what it wrote.
The same flows run on Kafka and PostgreSQL in tests/integration/test_quota_*.py."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from libs.events import (Event, PodSet, Resources, Tenant, WorkloadAccepted, WorkloadCancelled, WorkloadSpec,
                         WorkloadSucceeded)
from libs.platform.unit_of_work import UnitOfWork
from services.quota.handlers import QuotaHandlers
from services.quota.store import PostgresQuotaStore, QuotaStore
from tests.support.quota_store import InMemoryQuotaStore

CONFIG = """apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: a100}
spec: {nodeLabels: {batchyard.dev/cluster: onprem-dc1, batchyard.dev/pool: a100}}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: vision-cq}
spec:
  resourceGroups:
    - coveredResources: [cpu, memory, nvidia.com/gpu]
      flavors:
        - name: a100
          resources:
            - {name: cpu, nominalQuota: 64}
            - {name: memory, nominalQuota: 1Ti}
            - {name: nvidia.com/gpu, nominalQuota: 8}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {name: default, namespace: vision}
spec: {clusterQueue: vision-cq}
"""
TENANT = Tenant(org="acme", team="vision")


class Conn:
    """Takes the outbox inserts of ``uow.emit``; every other statement goes to the store, which ignores it."""

    async def execute(self, *args) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def accepted(wid: str, gpus: int = 8) -> WorkloadAccepted:
    """Admission's verdict on a one-pod workload of vision asking for ``gpus`` A100s (the whole queue: 8)."""
    spec = WorkloadSpec(name=wid, queue="default", pod_sets=(PodSet(
        name="train", count=1, requests=Resources(cpu_milli=8000, memory_mib=65536, gpu=gpus)),))
    return WorkloadAccepted(workload_id=wid, tenant=TENANT, spec=spec, producer="admission")


@pytest.fixture
def store() -> InMemoryQuotaStore:
    return InMemoryQuotaStore(CONFIG)


@pytest.fixture
def quota(store) -> QuotaHandlers:
    return QuotaHandlers(None, clock=Clock(), store=store)


async def handle(quota: QuotaHandlers, event: Event) -> list[Event]:
    """Runs the router's handler of ``event`` in one unit of work and commits it; returns what it emitted."""
    uow = UnitOfWork(conn=Conn(), producer="quota", namespace="t", cause=event)
    await quota.router().route(event.type)(event, uow)
    await uow.run_after_commit()  # releases the engine's lock, as the consumer's commit does
    return uow.emitted


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.workload_id) for e in events]


async def test_an_accepted_workload_within_quota_is_reserved(quota, store):
    emitted = await handle(quota, accepted("a"))
    [reserved] = emitted
    assert (reserved.type, reserved.workload_id, reserved.cluster_queue) == ("QuotaReserved", "a", "vision-cq")
    assert [f.flavor for f in reserved.flavors] == ["a100"]
    assert store.states() == {"a": "reserved"}
    assert store.workloads["a"]["admission"] is not None


async def test_a_second_workload_over_quota_waits_with_a_reason(quota, store):
    await handle(quota, accepted("a"))
    [pending] = await handle(quota, accepted("b"))
    assert (pending.type, pending.workload_id, pending.cluster_queue) == ("WorkloadPending", "b", "vision-cq")
    assert (pending.reason, pending.position) == ("QuotaExhausted", 1)
    assert "vision-cq at 100% of nominal GPU quota in a100 (8/8, needs 8)" in pending.message
    row = store.workloads["b"]
    assert (row["state"], row["pending_reason"], row["position"]) == ("pending", "QuotaExhausted", 1)
    assert store.states() == {"a": "reserved", "b": "pending"}


async def test_the_first_finishing_frees_its_quota_for_the_second(quota, store):
    await handle(quota, accepted("a"))
    await handle(quota, accepted("b"))
    emitted = await handle(quota, WorkloadSucceeded(workload_id="a", tenant=TENANT, cluster="onprem-dc1"))
    assert kinds(emitted) == [("QuotaReleased", "a"), ("QuotaReserved", "b")]
    assert emitted[0].reason == "succeeded"
    assert store.states() == {"a": "finished", "b": "reserved"}
    assert set(quota.engine.reservations) == {"b"}


async def test_cancelling_a_pending_workload_drops_it_and_forwards_the_cancel(quota, store):
    await handle(quota, accepted("a"))
    await handle(quota, accepted("b"))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    emitted = await handle(quota, WorkloadCancelled(workload_id="b", tenant=TENANT, cancelled_at=at))
    assert kinds(emitted) == [("WorkloadCancelled", "b")]  # nothing held, nothing released
    assert store.cancelled == {"b": (at, "pending")}
    assert store.states() == {"a": "reserved", "b": "finished"}
    assert quota.engine.where("b") is None
    # the cancel stays: a redelivered acceptance is never queued, and a finish of "a" reserves nothing for "b"
    assert await handle(quota, accepted("b")) == []
    emitted = await handle(quota, WorkloadSucceeded(workload_id="a", tenant=TENANT, cluster="onprem-dc1"))
    assert kinds(emitted) == [("QuotaReleased", "a")]


async def test_a_rebuild_from_the_store_keeps_reservations_and_the_queue(quota, store):
    await handle(quota, accepted("a"))
    await handle(quota, accepted("b"))
    quota.engine = None  # as after a rolled-back transaction: the next handler rebuilds from the rows
    emitted = await handle(quota, WorkloadSucceeded(workload_id="a", tenant=TENANT, cluster="onprem-dc1"))
    assert kinds(emitted) == [("QuotaReleased", "a"), ("QuotaReserved", "b")]


@pytest.mark.parametrize("store_class", [PostgresQuotaStore, InMemoryQuotaStore], ids=["postgres", "in-memory"])
def test_each_store_has_every_method_of_the_protocol_with_its_parameters(store_class):
    def parameters(function) -> list[str]:
        return [p for p in inspect.signature(function).parameters if p != "self"]

    members = [name for name, value in vars(QuotaStore).items() if inspect.iscoroutinefunction(value)]
    assert len(members) == 22
    assert {name: parameters(getattr(store_class, name)) for name in members} == \
        {name: parameters(getattr(QuotaStore, name)) for name in members}
