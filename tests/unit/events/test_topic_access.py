"""The catalog's writers and readers (what the Kafka ACLs are generated from) agree with what each service
declares it consumes and produces, and the generated ACLs give each principal exactly its job."""

from __future__ import annotations

import pytest

from cli.registry import SERVICES, definition
from libs.events.topics import CATALOG, DEAD_LETTER, KUBE_CONNECTOR, QUOTA, SUBMITTED
from libs.platform.acls import Acl, Operation, Pattern, Resource, desired_acls, drift, user


def catalog_name(service: str) -> str:
    return KUBE_CONNECTOR if service == "kube-connector" else service


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_reads_and_writes_exactly_what_the_catalog_grants_it(service):
    spec, me = definition(service), catalog_name(service)
    assert {t.name for t in CATALOG if me in t.readers} == {t.name for t in spec.consumes}
    writes = {t.name for t in spec.produces} | {DEAD_LETTER.name}  # every consumer dead-letters poison
    assert {t.name for t in CATALOG if me in t.writers} == writes


def test_tenants_write_submissions_only_and_read_nothing():
    acls = desired_acls("ns", ["c1"])
    producer = {a for a in acls if a.principal == user("producer")}
    assert producer == {Acl(user("producer"), Resource.TOPIC, SUBMITTED.qualified("ns"), Pattern.LITERAL,
                            Operation.WRITE)}


def test_each_consumer_group_is_bound_to_its_own_principal_and_connectors_are_per_cluster():
    groups = {(a.principal, a.name, a.pattern) for a in desired_acls("ns", ["c1", "c2"]) if a.resource is
              Resource.GROUP}
    assert (user("admission"), "ns.batchyard.admission", Pattern.LITERAL) in groups
    assert (user("kube-connector-c2"), "ns.batchyard.kube-connector-c2", Pattern.LITERAL) in groups
    assert (user("finance"), "ns.batchyard.finance.", Pattern.PREFIXED) in groups
    assert all(name.removeprefix("ns.batchyard.").split(".")[0] == principal.removeprefix("User:")
               for principal, name, _ in groups)
    writers = {a.principal for a in desired_acls("ns", ["c1", "c2"]) if a.name == SUBMITTED.qualified("ns")}
    assert writers >= {user("kube-connector-c1"), user("kube-connector-c2")}


def test_drift_counts_only_the_bus_resources_of_the_namespace():
    desired = desired_acls("ns")
    foreign = Acl(user("x"), Resource.TOPIC, "someone.elses.topic", Pattern.LITERAL, Operation.WRITE)
    other_ns = Acl(user("x"), Resource.TOPIC, QUOTA.qualified("other"), Pattern.LITERAL, Operation.WRITE)
    too_much = Acl(user("producer"), Resource.TOPIC, QUOTA.qualified("ns"), Pattern.LITERAL, Operation.ALL)
    found = drift({*desired, foreign, other_ns, too_much}, desired, "ns")
    assert found.extra == (too_much,) and not found.missing
