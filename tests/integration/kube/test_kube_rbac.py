"""Kubernetes RBAC decides who may submit where: creating a BatchJob in a namespace is submitting as that
namespace's team, and deploy/kube/rbac.yaml's roles give the connector exactly what it needs."""

from __future__ import annotations

import json

import pytest

from libs.localinfra.kube_session import CONNECTOR_GROUPS, CONNECTOR_USER
from tests.support.kube import batchjob, pod_set, pod_template

pytestmark = pytest.mark.integration


def can(cluster, kubeconfig, verb: str, resource: str, namespace: str | None = None) -> bool:
    """Asks the API server (kubectl auth can-i); ``resource`` may name a subresource after a slash."""
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource, *(["--subresource", sub] if sub else []),
            *(["-n", namespace] if namespace else [])]
    return cluster.kubectl(*args, kubeconfig=kubeconfig, check=False).stdout.strip() == "yes"


def test_only_a_namespaces_submitters_may_create_batchjobs_there(kube):
    cluster = kube["onprem-dc1"]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "nlp-submitters", "namespace": "nlp"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "batchyard-submitter"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-nlp"}]}
    cluster.apply(stdin=json.dumps(binding))
    alice = cluster.control_plane.user_kubeconfig("alice", ("team-nlp",))
    job = batchjob("alices-job", "nlp", [pod_set("main", 1, pod_template())])
    assert cluster.kubectl("create", "-f", "-", stdin=json.dumps(job), kubeconfig=alice, check=False).returncode == 0
    elsewhere = {**job, "metadata": {"name": "alices-job", "namespace": "vision"}}
    refused = cluster.kubectl("create", "-f", "-", stdin=json.dumps(elsewhere), kubeconfig=alice, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    assert not can(cluster, alice, "patch", "batchjobs/status", "nlp"), "a team cannot forge batchyard's status"


def test_the_connectors_role_is_what_it_needs_and_no_more(kube):
    cluster = kube["onprem-dc1"]
    connector = cluster.connector_kubeconfig()
    assert all(can(cluster, connector, verb, resource) for verb, resource in [
        ("watch", "batchjobs.batchyard.dev"), ("patch", "batchjobs.batchyard.dev/status"), ("patch", "jobs.batch"),
        ("patch", "rayjobs.ray.io"), ("patch", "pytorchjobs.kubeflow.org"),
        ("patch", "sparkapplications.sparkoperator.k8s.io"),
        ("create", "pods"), ("create", "pods/binding"), ("create", "pods/eviction"), ("patch", "nodes"),
        ("watch", "leases.coordination.k8s.io"), ("create", "events")])
    assert not any(can(cluster, connector, verb, resource) for verb, resource in [
        ("create", "batchjobs.batchyard.dev"), ("delete", "nodes"), ("get", "secrets"), ("create", "jobs.batch"),
        ("update", "clusterroles.rbac.authorization.k8s.io")])
    assert CONNECTOR_USER.endswith(":batchyard:kube-connector") and "system:serviceaccounts" in CONNECTOR_GROUPS
