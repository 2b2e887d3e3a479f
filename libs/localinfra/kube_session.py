"""Kubernetes clusters for one run of the tests, the demo or a benchmark, ready for batchyard.

``BATCHYARD_KUBECONFIG`` names existing clusters (one kubeconfig context per cluster name, or its current
context for a single cluster; kwok must run there for fake nodes). Otherwise throwaway control planes start on
127.0.0.1, sharing one etcd, and stop at the end. Either way each cluster gets batchyard's CRD, the job
operators' CRDs, the connector's RBAC and admission policy, and a namespace per team.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from libs.localinfra._proc import InfraError
from libs.localinfra.kafka import REPO_ROOT
from libs.localinfra.kube import KubeControlPlane
from libs.localinfra.kube_crds import operator_crd_files, own_crd_files

KUBE_DEPLOY = REPO_ROOT / "deploy" / "kube"
CONNECTOR_USER = "system:serviceaccount:batchyard:kube-connector"  # deploy/kube/rbac.yaml binds this account
CONNECTOR_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:batchyard", "system:authenticated")


@dataclass
class KubeCluster:
    """One cluster batchyard may use: its name, the admin's kubeconfig and, if started here, its control plane."""

    name: str
    kubeconfig: Path
    context: str | None = None
    control_plane: KubeControlPlane | None = None

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, kubeconfig: Path | None = None):
        if self.control_plane is not None:
            return self.control_plane.kubectl(*args, stdin=stdin, check=check, kubeconfig=kubeconfig)
        import subprocess
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise InfraError("kubectl is not on PATH (needed with BATCHYARD_KUBECONFIG)")
        context = ["--context", self.context] if self.context else []
        done = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig or self.kubeconfig), *context, *args],
                              input=stdin, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise InfraError(f"kubectl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def apply(self, *paths: Path, stdin: str | None = None, dry_run: bool = False) -> str:
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager", "batchyard-localinfra"]
        args += ["--dry-run=server"] if dry_run else []
        for path in paths:
            args += ["-f", str(path)]
        return self.kubectl(*args, *(["-f", "-"] if stdin is not None else []), stdin=stdin).stdout

    def connector_kubeconfig(self) -> Path:
        """Returns a kubeconfig as the connector's service account (so its RBAC is what is tested); on an
        existing cluster, the admin's."""
        if self.control_plane is None:
            return self.kubeconfig
        return self.control_plane.user_kubeconfig(CONNECTOR_USER, CONNECTOR_GROUPS, name="kube-connector")

    def prepare(self, namespaces: Iterable[str] = ()) -> "KubeCluster":
        """Installs batchyard's CRD, the operators' CRDs, RBAC and admission policy; creates ``namespaces``."""
        self.apply(*own_crd_files(), *operator_crd_files())
        for attempt in range(20):  # a CRD created a moment ago may have no conditions yet: wait says error
            if self.kubectl("wait", "--for", "condition=established", "--timeout", "60s", "crd", "--all",
                            check=attempt == 19).returncode == 0:
                break
            time.sleep(0.5)
        self.apply(KUBE_DEPLOY / "rbac.yaml", KUBE_DEPLOY / "admission-policy.yaml")
        items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces]
        if items:
            self.apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        return self

    def add_nodes(self, nodes: list[dict]) -> None:
        """Creates (or updates) Node objects, e.g. kwok nodes from a fleet spec."""
        for start in range(0, len(nodes), 500):
            self.apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes[start:start + 500]}))


@contextlib.contextmanager
def kube_clusters(names: Iterable[str], progress=print) -> Iterator[dict[str, KubeCluster]]:
    """Yields one KubeCluster per name: existing ones (BATCHYARD_KUBECONFIG) or throwaway control planes."""
    names = list(names)
    if env := os.environ.get("BATCHYARD_KUBECONFIG"):
        contexts = _contexts(Path(env))
        yield {n: KubeCluster(n, Path(env), n if n in contexts else None) for n in names}
        return
    root = Path(tempfile.mkdtemp(prefix="batchyard-kube-"))
    planes: list[KubeControlPlane] = []
    try:
        for name in names:
            progress(f"starting Kubernetes control plane {name!r} on 127.0.0.1 ...")
            etcd = planes[0].etcd if planes else None
            planes.append(KubeControlPlane(root / name, name=name, etcd_url=etcd).start(progress=progress))
        yield {p.name: KubeCluster(p.name, p.kubeconfig, None, p) for p in planes}
    finally:
        for plane in reversed(planes):  # the first holds the shared etcd: stop it last
            plane.stop()
        shutil.rmtree(root, ignore_errors=True)


def _contexts(kubeconfig: Path) -> set[str]:
    import yaml
    try:
        data = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InfraError(f"BATCHYARD_KUBECONFIG={kubeconfig}: {exc}") from None
    return {c.get("name") for c in data.get("contexts") or ()}
