"""Real Kubernetes control planes (etcd, kube-apiserver, kube-controller-manager, kwok) for the connector's tests:
started once for this package on 127.0.0.1 (and stopped after it, so the rest of the suite does not share the
cores with them), one per cluster of the demo fleet, reset before each test."""

from __future__ import annotations

import pytest

from libs.localinfra.kube_fleet import TEAM_NAMESPACES
from libs.localinfra.kube_session import kube_clusters
from libs.localinfra.processes import Platform
from libs.platform.topics_admin import ensure_topics
from tests.support.kube import reset

CLUSTERS = ("onprem-dc1", "aws-use1", "gcp-usc1")
ONPREM_QUOTA = "deploy/quota/onprem.yaml"


@pytest.fixture(scope="package")
def kube_session():
    with kube_clusters(CLUSTERS) as clusters:
        for cluster in clusters.values():
            cluster.prepare(namespaces=TEAM_NAMESPACES)
        yield clusters


@pytest.fixture
def kube(kube_session):
    """The clusters, with no job objects, pods or nodes left from earlier tests."""
    for cluster in kube_session.values():
        reset(cluster)
    return kube_session


@pytest.fixture
async def services(kafka_bootstrap, database_url, namespace, tmp_path):
    """A Platform (not yet started) on a fresh topic namespace and database, with the one-cluster quota config;
    stopped at the end of the test."""
    await ensure_topics(kafka_bootstrap, namespace)
    p = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env={"BATCHYARD_QUOTA_CONFIG": ONPREM_QUOTA})
    yield p
    p.stop()
