"""Losing a Kafka broker mid-run: a 3-node KRaft cluster on loopback (replication 3, min.insync.replicas 2),
the whole platform as processes, 3,000 workloads at 200/s (BROKER_LOSS_WORKLOADS and BROKER_LOSS_RATE for the
issue's 20,000 at 400/s); the active controller, chosen to coordinate the simulated fleet's consumer group too, is
SIGKILLed at a quarter of the run and brought back after another tenth; it then takes its leaderships and the
fleet's group coordination back (leader rebalance every 10 s here; Kafka's default is 300 s). Nothing is lost,
nothing is done twice, and no service is restarted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from libs.events.topics import CATALOG
from libs.localinfra.kafka_cluster import KafkaCluster
from libs.localinfra.processes import ALL_SERVICES, Platform
from libs.localinfra.steady_load import platform_env, submissions
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer

pytestmark = pytest.mark.integration

WORKLOADS = int(os.environ.get("BROKER_LOSS_WORKLOADS", "3000"))
RATE = int(os.environ.get("BROKER_LOSS_RATE", "200"))  # offered submissions per second: lost mid-flow
ONCE = ("WorkloadAccepted", "QuotaReserved", "WorkloadPlaced", "WorkloadRunning", "WorkloadSucceeded")


@pytest.fixture
def cluster(tmp_path):
    kafka = KafkaCluster(tmp_path / "kafka", brokers=3, tied=True,
                         leader_rebalance_s=int(os.environ.get("BROKER_LOSS_LEADER_REBALANCE_S", "10"))).start()
    yield kafka
    kafka.stop()


async def cluster_view(bootstrap: str, namespace: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """Returns the active controller's node id and, per topic of the namespace, (replicas, fewest in sync)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        controller = (await admin.describe_cluster())["controller_id"]
        topics = await admin.describe_topics([t.qualified(namespace) for t in CATALOG])
        return controller, {d["topic"]: (min(len(p["replicas"]) for p in d["partitions"]),
                                         min(len(p["isr"]) for p in d["partitions"])) for d in topics}
    finally:
        await admin.close()


async def coordinated_by(bootstrap: str, group: str, node: int, *, timeout: float) -> bool:
    """Waits until ``node`` coordinates ``group``; returns False if it does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            if await admin.find_coordinator(group) == node:
                return True
        except GroupCoordinatorNotAvailableError:
            pass
        finally:
            await admin.close()
        await asyncio.sleep(1)
    return False


async def active_controller(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return (await admin.describe_cluster())["controller_id"]
    finally:
        await admin.close()


async def publish_steadily(bootstrap: str, namespace: str, events, rate: int, published: list) -> None:
    """Publishes at ``rate`` per second, awaiting each slice's acknowledgements (acks=all, idempotent)."""
    async with EventPublisher(bootstrap, namespace) as publisher:
        start, step = time.monotonic(), rate // 10
        for i in range(0, len(events), step):
            await publisher.publish(events[i:i + step])
            published.append(i + step)
            await asyncio.sleep(max(0.0, start + (i + step) / rate - time.monotonic()))


def offsets_partition(group: str, partitions: int) -> int:
    """Returns the __consumer_offsets partition (hence the coordinator) of a group: Java's String.hashCode, made
    non-negative with Kafka's Utils.abs (Math.abs, and 0 for Integer.MIN_VALUE), modulo the partition count."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return (0 if signed == -(1 << 31) else abs(signed)) % partitions


async def namespace_coordinated_by(bootstrap: str, node: int, service: str = "sim-fleet") -> str:
    """Returns a fresh namespace whose ``service`` consumer group is coordinated by ``node``: losing that node
    then moves the group's coordinator away and, once it is back, home again (what stalled the simulated fleet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(100):  # the first lookup creates __consumer_offsets; it answers once that has leaders
            try:
                await admin.find_coordinator("batchyard-broker-loss-probe")
                break
            except GroupCoordinatorNotAvailableError:
                await asyncio.sleep(0.3)
        (offsets,) = await admin.describe_topics(["__consumer_offsets"])
        leaders = {p["partition"]: p["leader"] for p in offsets["partitions"]}
        assert len(leaders) == 6 and all(leader >= 0 for leader in leaders.values()), leaders
    finally:
        await admin.close()
    while True:
        namespace = f"t{uuid.uuid4().hex[:10]}"
        if leaders[offsets_partition(f"{namespace}.batchyard.{service}", len(leaders))] == node:
            return namespace


async def test_a_lost_broker_loses_nothing_and_restarts_no_service(cluster, database_url, tmp_path):
    controller = await active_controller(cluster.bootstrap)
    namespace = await namespace_coordinated_by(cluster.bootstrap, controller)
    await ensure_topics(cluster.bootstrap, namespace)
    _, replication = await cluster_view(cluster.bootstrap, namespace)
    assert set(replication.values()) == {(3, 3)}, replication  # three copies, all in sync, before the loss
    platform = Platform(cluster.bootstrap, database_url, namespace, tmp_path,
                        extra_env=platform_env(tmp_path / "config")).start(ALL_SERVICES)
    observer = await FlowObserver(cluster.bootstrap, namespace, isolation_level="read_committed").start()
    events, published = submissions(WORKLOADS, "bl", demo_signer()), []
    publishing = asyncio.create_task(publish_steadily(cluster.bootstrap, namespace, events, RATE, published))
    try:
        def succeeded(o: FlowObserver) -> int:
            return sum(1 for v in o.workloads.values() if v.state == "succeeded")

        def until(count: int):  # ... or until a service died, which the assertion after the wait reports
            return lambda o: succeeded(o) >= count or any(s.proc.poll() is not None for s in platform.services.values())

        assert await observer.wait_for(until(WORKLOADS // 4), timeout=300), platform.logs()
        platform.assert_alive()
        victim = controller - 1
        cluster.kill(victim)  # the controller at the start (metadata, partition leaders) and the fleet's coordinator
        lost_at = succeeded(observer)
        assert await observer.wait_for(until(lost_at + WORKLOADS // 10), timeout=300), \
            f"no progress without broker {controller}\n{platform.logs()}"
        platform.assert_alive()
        cluster.restart(victim)
        fleet_group = f"{namespace}.batchyard.sim-fleet"
        assert await coordinated_by(cluster.bootstrap, fleet_group, controller, timeout=120), \
            f"broker {controller} never took the coordination of {fleet_group} back"
        await asyncio.wait_for(publishing, timeout=300)
        if not await observer.wait_for(until(WORKLOADS), timeout=600):
            lags = await group_lags(cluster.bootstrap, namespace)
            raise AssertionError(f"{Counter(v.state for v in observer.workloads.values())}\nlags: {lags}\n"
                                 f"{platform.logs()}")
        await asyncio.sleep(3)  # a late duplicate would show now
        ids = [e.workload_id for e in events]
        views = [observer.workloads[w] for w in ids]
        assert Counter(v.state for v in views) == {"succeeded": WORKLOADS}
        assert all(len(v.placed_ids) == 1 and not v.evicted_ids for v in views)
        for kind in ONCE:  # distinct events: each workload accepted, reserved, placed, run and ended exactly once
            assert observer.counts[kind] == WORKLOADS, (kind, observer.counts)
        assert not observer.dead_letters and not observer.undecodable
        assert all(s.starts == 1 for s in platform.services.values())  # nobody was restarted ...
        platform.assert_alive()  # ... and nobody died
        assert await wait_in_sync(cluster.bootstrap, namespace), "the restarted broker never caught up"
        print(f"\nbroker {controller} lost at {lost_at} succeeded; records delivered vs distinct: "
              f"{ {k: (observer.deliveries[k], observer.counts[k]) for k in ONCE} }")
    finally:
        publishing.cancel()
        with contextlib.suppress(BaseException):
            await publishing
        await observer.stop()
        platform.stop()


async def wait_in_sync(bootstrap: str, namespace: str, timeout: float = 120) -> bool:
    """Waits until every partition of the namespace has all three replicas in sync again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set((await cluster_view(bootstrap, namespace))[1].values()) == {(3, 3)}:
            return True
        await asyncio.sleep(1)
    return False


async def group_lags(bootstrap: str, namespace: str) -> dict[str, dict[str, int]]:
    """Returns, per service's consumer group, the partitions whose committed offset is behind the end (and by how
    much): which partitions a stalled service stopped reading."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await probe.start()
    prefix, lags = f"{namespace}.batchyard.", {}
    try:
        for group in sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)):
            committed = await admin.list_consumer_group_offsets(group)
            ends = await probe.end_offsets(list(committed)) if committed else {}
            lags[group.removeprefix(prefix)] = {f"{tp.topic.removeprefix(prefix)}/{tp.partition}": ends[tp] - m.offset
                                                for tp, m in committed.items() if ends[tp] > m.offset}
    finally:
        await probe.stop()
        await admin.close()
    return lags
