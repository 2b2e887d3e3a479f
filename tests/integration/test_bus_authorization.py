"""Nobody skips admission on the bus: SASL/SCRAM principals and ACLs generated from the topic catalog, on a
Kafka with the KRaft StandardAuthorizer (its own broker, not the session's shared one).

A tenant (producer) may write submissions only: a forged QuotaReserved or WorkloadPlaced is refused by the
broker and never reaches a consumer. Finance cannot read submissions; no service can join another's consumer
group; the admission service, as its own principal, still decides. ``batchyard kafka acls --apply`` is
idempotent and ``--check`` reports drift.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (ClusterAuthorizationFailedError, GroupAuthorizationFailedError,
                            TopicAuthorizationFailedError)

from libs.events import PodSet, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.events import workload as w
from libs.events.topics import ADMISSION, COST_ACCRUALS, NODE_HEALTH, NODE_REPAIR, PLACEMENT, QUOTA, SUBMITTED
from libs.localinfra.kafka_authz import AuthorizingKafkaServer
from libs.platform import kafka_acls
from libs.platform.acls import Acl, Operation, Pattern, Resource, desired_acls, principals, user
from libs.platform.publisher import EventPublisher
from libs.platform.service import create_app
from libs.platform.settings import KafkaSecurity, Settings
from libs.platform.topics_admin import ensure_topics
from services.admission.app import DEFINITION as ADMISSION_SERVICE
from services.admission.signing import demo_signer

pytestmark = pytest.mark.integration
if shutil.which("openssl") is None:
    pytest.skip("openssl is not installed: the authorizing Kafka listens on SASL_SSL with a throwaway CA",
                allow_module_level=True)

CLUSTERS = ("onprem-dc1",)
USERS = {name: f"{name}-secret" for name in (*principals(CLUSTERS), "admin")}


@pytest.fixture(scope="module")
def kafka() -> Iterator[AuthorizingKafkaServer]:
    root = Path(tempfile.mkdtemp(prefix="batchyard-authz-"))
    server = AuthorizingKafkaServer(root / "kafka", scram_users=USERS)
    try:
        yield server.start(progress=lambda _: None)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def bus(kafka: AuthorizingKafkaServer, namespace: str) -> AuthorizingKafkaServer:
    """The namespace's topics, created by the admin, and the catalog's ACLs applied."""
    await ensure_topics(kafka.bootstrap, namespace, **kafka.client_options("admin"))
    await kafka_acls.apply(kafka.bootstrap, namespace, CLUSTERS, **kafka.client_options("admin"))
    return kafka


def submission(workload_id: str) -> WorkloadSubmitted:
    spec = WorkloadSpec(name="job", pod_sets=(PodSet(name="main", count=1),))
    return demo_signer("ci@acme")(WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org="acme", team="vision"),
                                                    spec=spec, producer="ci"))


def forged_reservation(workload_id: str) -> w.QuotaReserved:
    return w.QuotaReserved(workload_id=workload_id, tenant=Tenant(org="acme", team="vision"), producer="quota",
                           cluster_queue="acme-vision", flavors=(w.FlavorAssignment(pod_set="main", flavor="h100"),),
                           priority=1_000_000, spec=submission(workload_id).spec)


def forged_placement(workload_id: str) -> w.WorkloadPlaced:
    return w.WorkloadPlaced(workload_id=workload_id, tenant=Tenant(org="acme", team="vision"), producer="scheduler",
                            cluster="onprem-dc1", spec=submission(workload_id).spec,
                            assignments=(w.PodAssignment(pod_set="main", index=0, node_id="onprem-dc1/h100-0001"),))


async def record_count(kafka: AuthorizingKafkaServer, namespace: str, topic) -> int:
    """Returns how many records the topic holds (summed end offsets), read as the admin."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, **kafka.client_options("admin"))
    await consumer.start()
    try:
        parts = [TopicPartition(topic.qualified(namespace), p) for p in range(topic.partitions)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


async def read_as(kafka: AuthorizingKafkaServer, name: str, topic, namespace: str, group: str | None = None):
    """Polls ``topic`` as principal ``name`` (in ``group`` if given); raises what the broker answered."""
    consumer = AIOKafkaConsumer(topic.qualified(namespace), bootstrap_servers=kafka.bootstrap, group_id=group,
                                auto_offset_reset="earliest", **kafka.client_options(name))
    try:
        await consumer.start()
        return await consumer.getmany(timeout_ms=2000)
    finally:
        await consumer.stop()  # also when start() was refused: the client is closed either way


async def test_a_tenant_cannot_forge_internal_events_and_admission_still_decides(bus, namespace, database_url):
    settings = Settings(kafka_bootstrap=bus.bootstrap, database_url=database_url, topic_namespace=namespace,
                        ensure_topics=False, admission_reload_s=0, retry_backoff_s=0.01,
                        kafka_security=KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                                                     sasl_username="admission", sasl_password=USERS["admission"],
                                                     ssl_cafile=str(bus.ca_file)))
    async with create_app(settings, ADMISSION_SERVICE) as app:  # admission as its own principal, under ACLs
        async with EventPublisher(bus.bootstrap, namespace, **bus.client_options("producer")) as tenant:
            await tenant.publish([submission("authz-1")])  # the door tenants have: allowed
            for forged in (forged_reservation("authz-2"), forged_placement("authz-3"),
                           w.WorkloadAccepted(workload_id="authz-4", tenant=Tenant(org="acme", team="vision"),
                                              producer="admission", spec=submission("authz-4").spec)):
                with pytest.raises(TopicAuthorizationFailedError):
                    await tenant.publish([forged])
        decided = await _wait_for_verdicts(app.runtime.pool, 1)
    assert decided == [("authz-1", "accepted")]
    # nothing forged reached a topic, so no consumer downstream (scheduler, connectors, cost) can see it
    assert await record_count(bus, namespace, QUOTA) == 0
    assert await record_count(bus, namespace, PLACEMENT) == 0
    assert await record_count(bus, namespace, ADMISSION) == 1  # admission's one real verdict


async def _wait_for_verdicts(pool, count: int, timeout: float = 60) -> list[tuple[str, str]]:
    import asyncio
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await pool.fetch("select workload_id, outcome from audit_log order by seq")
        if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
            return [(r["workload_id"], r["outcome"]) for r in rows]
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("principal", "topic", "group"), [
    pytest.param("finance", SUBMITTED, None, id="finance-reads-submissions"),
    pytest.param("producer", SUBMITTED, None, id="a-tenant-reads-other-tenants-submissions"),
    pytest.param("ops", COST_ACCRUALS, None, id="ops-reads-costs"),
    pytest.param("scheduler", SUBMITTED, "batchyard.scheduler", id="scheduler-skips-admission"),
])
async def test_a_principal_cannot_read_a_topic_it_has_no_business_with(bus, namespace, principal, topic, group):
    group_id = f"{namespace}.{group}" if group else None
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(bus, principal, topic, namespace, group_id)


@pytest.mark.parametrize(("principal", "topic", "group"), [
    pytest.param("finance", COST_ACCRUALS, "batchyard.finance.reports", id="finance-reads-costs"),
    pytest.param("ops", NODE_HEALTH, "batchyard.ops.dashboard", id="ops-reads-node-health"),
    pytest.param("ops", NODE_REPAIR, None, id="ops-reads-node-repair"),
])
async def test_readers_read_what_the_catalog_gives_them(bus, namespace, principal, topic, group):
    group_id = f"{namespace}.{group}" if group else None
    assert await read_as(bus, principal, topic, namespace, group_id) == {}  # empty, and allowed


async def test_a_service_cannot_join_another_services_consumer_group(bus, namespace):
    # quota may read admission's verdicts, but only in its own group: not in admission's (it would steal or
    # commit past admission's records)
    with pytest.raises(GroupAuthorizationFailedError):
        await read_as(bus, "quota", ADMISSION, namespace, f"{namespace}.batchyard.admission")
    assert await read_as(bus, "quota", ADMISSION, namespace, f"{namespace}.batchyard.quota") == {}


async def test_ops_cannot_write_node_repair_transitions(bus, namespace):
    from libs.events.node import NodeRepairTransitioned
    assert NodeRepairTransitioned in NODE_REPAIR.events
    # ops may write no topic at all, so the broker refuses even its idempotent producer's id
    with pytest.raises(ClusterAuthorizationFailedError):
        async with EventPublisher(bus.bootstrap, namespace, **bus.client_options("ops")) as ops:
            await (await ops.send_raw(NODE_REPAIR, b"{}", b"node"))
    assert await record_count(bus, namespace, NODE_REPAIR) == 0


async def test_acls_apply_idempotently_and_check_reports_drift(kafka, namespace):
    admin = kafka.client_options("admin")
    await ensure_topics(kafka.bootstrap, namespace, **admin)
    first = await kafka_acls.apply(kafka.bootstrap, namespace, CLUSTERS, **admin)
    assert set(first.missing) == desired_acls(namespace, CLUSTERS) and not first.extra
    assert (await kafka_acls.apply(kafka.bootstrap, namespace, CLUSTERS, **admin)).clean  # a second apply: nothing
    # drift: someone grants a tenant write on the quota topic, and removes the scheduler's read of it
    too_much = Acl(user("producer"), Resource.TOPIC, QUOTA.qualified(namespace), Pattern.LITERAL, Operation.WRITE)
    removed = Acl(user("scheduler"), Resource.TOPIC, QUOTA.qualified(namespace), Pattern.LITERAL, Operation.READ)
    client = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap, **admin)
    await client.start()
    try:
        await kafka_acls.create(client, [too_much])
        await kafka_acls.delete(client, [removed])
    finally:
        await client.close()
    found = await kafka_acls.check(kafka.bootstrap, namespace, CLUSTERS, **admin)
    assert (found.missing, found.extra) == ((removed,), (too_much,))
    await kafka_acls.apply(kafka.bootstrap, namespace, CLUSTERS, **admin)
    assert (await kafka_acls.check(kafka.bootstrap, namespace, CLUSTERS, **admin)).clean


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
async def test_the_controller_listener_admits_no_client_without_the_brokers_certificate(kafka, protocol):
    """No anonymous back door: the KRaft controller listener speaks mutual TLS (a plaintext client, or a TLS one
    without a certificate, is refused), so ACLs cannot be changed there."""
    import ssl as ssl_module

    from aiokafka.errors import KafkaConnectionError
    options = {"security_protocol": "SSL", "ssl_context": ssl_module.create_default_context(
        cafile=str(kafka.ca_file))} if protocol == "SSL" else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{kafka.controller_port}", request_timeout_ms=5000,
                                **options)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()
