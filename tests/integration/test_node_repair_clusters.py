"""Cluster reachability in the node-repair service, on real Kafka and PostgreSQL: a cluster whose heartbeats stop is
judged unreachable after the grace and its silent nodes are not cordoned; it comes back on its next report; a node
that falls silent in a reachable cluster is still found dead. Event times are wall times (no scaled clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import yaml

from libs.events import ClusterStatusReported, NodeHealthReported, NodeInventoried, Topology
from libs.localinfra.processes import Platform
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from tests.integration.test_node_repair_storm import RepairObserver

pytestmark = pytest.mark.integration
NODES = {"aws": ("aws/n1", "aws/n2"), "gcp": ("gcp/n1",)}


def inventory(node: str) -> NodeInventoried:
    cluster, name = node.split("/")
    return NodeInventoried(node_id=node, cluster=cluster, pool=f"{cluster}-cpu", instance_type="m7i", cpu_milli=8000,
                           memory_mib=32768, gpu=0, topology=Topology(zone=cluster, block=cluster, rack=cluster,
                                                                        host=name), price_per_hour_micros=1)


async def beat(bus: EventPublisher, clusters: tuple[str, ...], silent_nodes: tuple[str, ...] = ()) -> None:
    now = datetime.now(UTC)
    events = [ClusterStatusReported(cluster=c, reachable=True, occurred_at=now) for c in clusters]
    events += [NodeHealthReported(node_id=n, conditions={"Ready": True}, occurred_at=now)
               for c in clusters for n in NODES[c] if n not in silent_nodes]
    await bus.publish(events)


async def beats_for(bus: EventPublisher, seconds: float, clusters: tuple[str, ...], silent_nodes=()) -> None:
    for _ in range(int(seconds / 0.5)):
        await beat(bus, clusters, silent_nodes)
        await asyncio.sleep(0.5)


async def test_a_silent_cluster_is_unreachable_not_dead_and_a_silent_node_in_a_live_cluster_is_dead(
        kafka_bootstrap, database_url, namespace, tmp_path):
    policy = tmp_path / "repair.yaml"
    policy.write_text(yaml.safe_dump({"diagnosis": {"heartbeat_timeout_s": 8, "cluster_unreachable_after_s": 3}}))
    await ensure_topics(kafka_bootstrap, namespace)
    platform = Platform(kafka_bootstrap, database_url, namespace, tmp_path,
                        extra_env={"BATCHYARD_REPAIR_CONFIG": str(policy)}).start(["node-repair"])
    observer = await RepairObserver(kafka_bootstrap, namespace).start()
    try:
        async with EventPublisher(kafka_bootstrap, namespace) as bus:
            await bus.publish([inventory(n) for nodes in NODES.values() for n in nodes])
            await beats_for(bus, 4, ("aws", "gcp"))
            assert not observer.reachability and not observer.transitions, platform.logs()

            await beats_for(bus, 14, ("gcp",))  # aws falls silent: cluster and nodes alike, past both timeouts
            assert [(e.cluster, e.reachable, e.reason) for e in observer.reachability] == [
                ("aws", False, "ClusterUnreachable")], platform.logs()
            assert "no report that reached its API server for" in observer.reachability[0].message
            assert not observer.transitions, "a partition is not a fleet of dead nodes"

            await beats_for(bus, 3, ("aws", "gcp"))  # aws is back
            assert await observer.wait_for(lambda o: len(o.reachability) == 2, timeout=10), platform.logs()
            assert (observer.reachability[1].cluster, observer.reachability[1].reachable) == ("aws", True)

            await beats_for(bus, 14, ("aws", "gcp"), silent_nodes=("aws/n1",))  # one node dies in a live cluster
            assert await observer.wait_for(lambda o: o.transitions, timeout=10), platform.logs()
            assert {t.node_id for t in observer.transitions} == {"aws/n1"}
            assert observer.transitions[0].evidence["1"].startswith("no heartbeat for"), observer.transitions[0]
            assert len(observer.reachability) == 2 and not observer.dead_letters
            platform.assert_alive()
    finally:
        await observer.stop()
        platform.stop()
