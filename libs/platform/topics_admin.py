"""Applies the topic catalog to a Kafka cluster, idempotently: create what is missing, align configs."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity

from libs.events.topics import CATALOG, Topic, replication

log = logging.getLogger("batchyard.topics")


async def ensure_topics(bootstrap: str, namespace: str = "", catalog: tuple[Topic, ...] = CATALOG, *,
                        security: BaseSecurity | None = None, **client_options) -> dict[str, str]:
    """Creates missing topics, raises partition counts that are too low, and sets configs; returns name → action.

    Replication follows the cluster's size (libs.events.topics.replication): three copies and
    min.insync.replicas=2 on a cluster of three brokers or more, one copy on a single broker.

    ``security``: the broker's transport security as services connect with it (service.kafka_security), e.g.
    SASL/SCRAM over TLS; ``client_options``: any other aiokafka admin client options.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **parse_security(security), **client_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        factor, min_insync = replication(len((await admin.describe_cluster())["brokers"]))
        actions: dict[str, str] = {}
        missing = [t for t in catalog if t.qualified(namespace) not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(t.qualified(namespace), t.partitions, factor,
                                                    topic_configs=t.configs(min_insync)) for t in missing])
            except TopicAlreadyExistsError:
                pass  # another service created it between our list and create
            actions.update({t.qualified(namespace): "created" for t in missing})
            await _wait_for_leaders(admin, [t.qualified(namespace) for t in missing])
        present = [t for t in catalog if t.qualified(namespace) in existing]
        if present:
            await _align(admin, present, namespace, actions, min_insync)
        return actions
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Waits until every partition of the new topics has a leader, so first readers see no leader errors."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        described = await admin.describe_topics(names)
        if all(d["error_code"] == 0 and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"])
               for d in described):
            return
        await asyncio.sleep(0.1)
    log.warning("topics %s still lack partition leaders after %.0fs", names, timeout_s)


async def _align(admin: AIOKafkaAdminClient, topics: list[Topic], namespace: str, actions: dict[str, str],
                 min_insync: int) -> None:
    described = await admin.describe_topics([t.qualified(namespace) for t in topics])
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    grow = {t.qualified(namespace): NewPartitions(t.partitions) for t in topics
            if counts.get(t.qualified(namespace), t.partitions) < t.partitions}
    if grow:
        await admin.create_partitions(grow)
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t.qualified(namespace),
                                              configs=t.configs(min_insync)) for t in topics])
    for t in topics:
        name = t.qualified(namespace)
        actions[name] = "partitions raised" if name in grow else "configs aligned"
        if counts.get(name, t.partitions) > t.partitions:
            log.warning("topic %s has %d partitions, catalog says %d; Kafka cannot shrink it", name, counts[name],
                        t.partitions)
