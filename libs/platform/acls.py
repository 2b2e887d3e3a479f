"""The Kafka ACLs the bus needs, generated from the topic catalog: each principal may do exactly its job.

Pure: ``desired_acls`` turns the catalog's writers and readers into allow-bindings; ``drift`` compares them with
what a cluster holds. ``libs/platform/kafka_acls.py`` reads and writes them over the Kafka protocol, and
``batchyard kafka acls --apply | --check`` is the operator's door (docs/security.md, "Kafka authorization").

- a topic's writers get WRITE on it, its readers READ (each implies DESCRIBE); nobody else gets anything;
- a service's consumer group (``[<ns>.]batchyard.<service>``) is READ by that service only, so no principal can
  join another's group and steal or skip its records;
- ops and finance consume in groups of their own prefix (``[<ns>.]batchyard.ops.``, ``...finance.``);
- everything else (creating topics, ACLs, configs) is left to an admin, a super user of the cluster.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from libs.events.topics import CATALOG, FINANCE, KUBE_CONNECTOR, OPS, PRODUCER, Topic

READ_ONLY_PEOPLE = (OPS, FINANCE)  # humans' tools: they consume in groups under their own prefix


class Resource(str, enum.Enum):
    """Kafka resource types (the wire codes are in kafka_acls.py)."""

    TOPIC = "topic"
    GROUP = "group"


class Pattern(str, enum.Enum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


class Operation(str, enum.Enum):
    """The operations the plan grants (read, write), and the others a cluster may hold, reported as drift."""

    ALL = "all"
    READ = "read"
    WRITE = "write"
    CREATE = "create"
    DELETE = "delete"
    ALTER = "alter"
    DESCRIBE = "describe"
    CLUSTER_ACTION = "cluster_action"
    DESCRIBE_CONFIGS = "describe_configs"
    ALTER_CONFIGS = "alter_configs"
    IDEMPOTENT_WRITE = "idempotent_write"
    OTHER = "other"


@dataclass(frozen=True, order=True)
class Acl:
    """One allow-binding: ``principal`` may ``operation`` on the resource, from any host."""

    principal: str  # "User:<name>"
    resource: Resource  # topic or group
    name: str  # the topic or group name (or prefix)
    pattern: Pattern  # literal name or prefix
    operation: Operation  # read or write
    allow: bool = True  # the plan only allows; a cluster's deny bindings show up as drift
    host: str = "*"  # the plan allows from any host

    def __str__(self) -> str:
        star = "*" if self.pattern is Pattern.PREFIXED else ""
        verb = "may" if self.allow else "may NOT"
        host = "" if self.host == "*" else f" from {self.host}"
        return f"{self.principal} {verb} {self.operation.value} {self.resource.value} {self.name}{star}{host}"


@dataclass(frozen=True)
class Drift:
    """What a cluster's ACLs lack and what they hold beyond the plan, within the bus's resources."""

    missing: tuple[Acl, ...]  # planned, not on the cluster
    extra: tuple[Acl, ...]  # on the cluster, on our topics or groups, not planned

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra)


def user(name: str) -> str:
    """Returns the Kafka principal of a SCRAM user (or a certificate's mapped name)."""
    return f"User:{name}"


def expand(principal: str, kube_clusters: Iterable[str]) -> tuple[str, ...]:
    """Returns the real principals behind a catalog name: one per cluster for the Kubernetes connector."""
    if principal == KUBE_CONNECTOR:
        return tuple(f"{KUBE_CONNECTOR}-{cluster}" for cluster in kube_clusters)
    return (principal,)


def group_prefix(namespace: str = "") -> str:
    """Returns the prefix of every consumer group of the bus (as Settings.group_id builds them)."""
    return f"{namespace}.batchyard." if namespace else "batchyard."


def desired_acls(namespace: str = "", kube_clusters: Iterable[str] = (),
                 catalog: tuple[Topic, ...] = CATALOG) -> frozenset[Acl]:
    """Returns every binding the bus needs in ``namespace``, with one connector principal per cluster."""
    clusters = tuple(kube_clusters)
    acls: set[Acl] = set()
    consumers: set[str] = set()
    for topic in catalog:
        name = topic.qualified(namespace)
        for principal in (p for w in topic.writers for p in expand(w, clusters)):
            acls.add(Acl(user(principal), Resource.TOPIC, name, Pattern.LITERAL, Operation.WRITE))
        for principal in (p for r in topic.readers for p in expand(r, clusters)):
            acls.add(Acl(user(principal), Resource.TOPIC, name, Pattern.LITERAL, Operation.READ))
            consumers.add(principal)
    for principal in sorted(consumers - {PRODUCER}):
        if principal in READ_ONLY_PEOPLE:
            group, pattern = f"{group_prefix(namespace)}{principal}.", Pattern.PREFIXED
        else:
            group, pattern = f"{group_prefix(namespace)}{principal}", Pattern.LITERAL
        acls.add(Acl(user(principal), Resource.GROUP, group, pattern, Operation.READ))
    return frozenset(acls)


def managed(acl: Acl, namespace: str = "", catalog: tuple[Topic, ...] = CATALOG) -> bool:
    """Returns whether ``acl`` is on a resource of the bus in ``namespace`` (what --apply owns and may delete)."""
    if acl.resource is Resource.TOPIC:
        return acl.name in {t.qualified(namespace) for t in catalog}
    return acl.name.startswith(group_prefix(namespace))


def drift(actual: Iterable[Acl], desired: frozenset[Acl], namespace: str = "") -> Drift:
    """Returns the planned bindings the cluster lacks, and the ones it holds on our resources beyond the plan."""
    ours = {a for a in actual if managed(a, namespace)}
    return Drift(missing=tuple(sorted(desired - ours)), extra=tuple(sorted(ours - desired)))


def principals(kube_clusters: Iterable[str] = (), catalog: tuple[Topic, ...] = CATALOG) -> tuple[str, ...]:
    """Returns every principal the catalog names (connectors expanded), sorted."""
    clusters = tuple(kube_clusters)
    names = {p for t in catalog for n in (*t.writers, *t.readers) for p in expand(n, clusters)}
    return tuple(sorted(names))
