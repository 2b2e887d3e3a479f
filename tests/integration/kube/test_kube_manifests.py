"""Every Kubernetes manifest in deploy/ is accepted by a real API server (``kubectl apply --dry-run=server``):
validated against the real schemas (ours, the job operators', Kueue's and kwok's CRDs) and through admission."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from libs.localinfra.kube_crds import kueue_crd_files, kwok_crd_files

pytestmark = pytest.mark.integration
DEPLOY = Path("deploy")
# Documents with an apiVersion that are not objects of any API server, and why.
NOT_API_OBJECTS = {"config.kueue.x-k8s.io/v1beta1": "Kueue's controller configuration file, read by Kueue itself"}
HELM = DEPLOY / "helm"  # Helm charts: templates, not manifests (test_helm_chart.py renders and checks them)


def manifests() -> list[Path]:
    """Returns every YAML file under deploy/ holding at least one document with apiVersion and kind."""
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        if HELM in path.parents:
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        if any("apiVersion" in d and "kind" in d and d["apiVersion"] not in NOT_API_OBJECTS for d in docs):
            found.append(path)
    return found


def test_the_manifests_found_cover_the_kinds_we_ship():
    names = {str(p) for p in manifests()}
    assert {"deploy/kube/crds/batchyard.dev_batchjobs.yaml", "deploy/kube/rbac.yaml",
            "deploy/kube/admission-policy.yaml", "deploy/kube/connector-deployment.yaml",
            "deploy/kube/kwok/stages.yaml", "deploy/quota/demo.yaml", "deploy/quota/onprem.yaml"} <= names


@pytest.fixture(scope="module")
def cluster(kube_session):
    """The on-prem cluster, with Kueue's and kwok's CRDs too (our Kueue-shaped quota files and kwok stages)."""
    cluster = kube_session["onprem-dc1"]
    cluster.apply(*kueue_crd_files(), *kwok_crd_files())
    cluster.kubectl("wait", "--for", "condition=established", "--timeout", "60s", "crd",
                    "clusterqueues.kueue.x-k8s.io", "stages.kwok.x-k8s.io")
    return cluster


@pytest.mark.parametrize("path", manifests(), ids=str)
def test_every_manifest_passes_a_server_side_dry_run(cluster, path):
    docs = [d for d in yaml.safe_load_all(path.read_text())
            if isinstance(d, dict) and d.get("apiVersion") not in NOT_API_OBJECTS]
    text = yaml.safe_dump_all(docs)
    for namespace in {d.get("metadata", {}).get("namespace") for d in docs} - {None}:
        cluster.kubectl("create", "namespace", namespace, check=False)
    out = cluster.apply(stdin=text, dry_run=True)
    assert out.count("(server dry run)") == len(docs), out
