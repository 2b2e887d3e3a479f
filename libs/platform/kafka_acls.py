"""Reads, creates and deletes Kafka ACLs over the wire (aiokafka's admin client has no ACL calls, but its protocol
module has the DescribeAcls, CreateAcls and DeleteAcls requests). Runs as an admin: a super user of the cluster."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from libs.platform.acls import Acl, Drift, Operation, Pattern, Resource, desired_acls, drift

# Wire codes (org.apache.kafka.common.resource / acl enums)
_ANY = 1
_RESOURCE = {Resource.TOPIC: 2, Resource.GROUP: 3}
_PATTERN = {Pattern.LITERAL: 3, Pattern.PREFIXED: 4}
_OPERATION = {Operation.ALL: 2, Operation.READ: 3, Operation.WRITE: 4, Operation.CREATE: 5, Operation.DELETE: 6,
              Operation.ALTER: 7, Operation.DESCRIBE: 8, Operation.CLUSTER_ACTION: 9,
              Operation.DESCRIBE_CONFIGS: 10, Operation.ALTER_CONFIGS: 11, Operation.IDEMPOTENT_WRITE: 12}
_DENY, _ALLOW = 2, 3


class AclError(RuntimeError):
    """The cluster refused an ACL request; the message names the error Kafka returned."""


def _check(error_code: int, message: str | None, what: str) -> None:
    if error_code:
        raise AclError(f"{what}: {for_code(error_code).__name__}{': ' + message if message else ''}")


async def describe(admin: AIOKafkaAdminClient) -> set[Acl]:
    """Returns every topic and group binding the cluster holds (others, e.g. on the cluster, are not ours)."""
    response = await admin._send_request(DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY))
    _check(response.error_code, response.error_message, "describing ACLs")
    resources = {v: k for k, v in _RESOURCE.items()}
    patterns = {v: k for k, v in _PATTERN.items()}
    operations = {v: k for k, v in _OPERATION.items()}
    found: set[Acl] = set()
    for resource_type, name, pattern_type, bindings in response.resources:
        if resource_type not in resources or pattern_type not in patterns:
            continue
        for principal, host, operation, permission in bindings:
            found.add(Acl(principal, resources[resource_type], name, patterns[pattern_type],
                          operations.get(operation, Operation.OTHER), permission == _ALLOW, host))
    return found


def _fields(acl: Acl) -> tuple:
    if acl.operation is Operation.OTHER:
        raise AclError(f"cannot address an ACL with an operation batchyard does not know: {acl}")
    return (_RESOURCE[acl.resource], acl.name, _PATTERN[acl.pattern], acl.principal, acl.host,
            _OPERATION[acl.operation], _ALLOW if acl.allow else _DENY)


async def create(admin: AIOKafkaAdminClient, acls: Iterable[Acl]) -> None:
    for acl in acls:
        response = await admin._send_request(CreateAclsRequest(*_fields(acl)))
        for error_code, message in response.creation_responses:
            _check(error_code, message, f"creating {acl}")


async def delete(admin: AIOKafkaAdminClient, acls: Iterable[Acl]) -> None:
    for acl in acls:
        response = await admin._send_request(DeleteAclsRequest(*_fields(acl)))
        for error_code, message, _ in response.filter_responses:
            _check(error_code, message, f"deleting {acl}")


async def check(bootstrap: str, namespace: str = "", kube_clusters: Iterable[str] = (), **options) -> Drift:
    """Returns how the cluster's ACLs differ from the catalog's plan."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        return drift(await describe(admin), desired_acls(namespace, kube_clusters), namespace)
    finally:
        await admin.close()


async def apply(bootstrap: str, namespace: str = "", kube_clusters: Iterable[str] = (), **options) -> Drift:
    """Creates the missing bindings and deletes the extra ones on the bus's resources; returns what it changed
    (nothing, the second time)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        changes = drift(await describe(admin), desired_acls(namespace, kube_clusters), namespace)
        await create(admin, changes.missing)
        await delete(admin, changes.extra)
        return changes
    finally:
        await admin.close()
