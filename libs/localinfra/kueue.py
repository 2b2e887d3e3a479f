"""Kueue's controller manager on a throwaway control plane (for benchmarks against it), on 127.0.0.1 only.

Run as Kueue's docs allow without cert-manager: internal cert management off, no webhook configurations installed
(its webhook server listens on loopback but the API server never calls it, so Jobs must be created suspended),
the VisibilityOnDemand feature gate off and only the batch/job integration. Without internal cert management
Kueue reads its metrics certificate from ``/etc/kueue/metrics/certs/`` and nowhere else: it runs in a private
mount namespace (``unshare -m``) where a copy of ``/etc`` holding that certificate is bind-mounted over
``/etc``, so the host's ``/etc`` is never written. Needs root (or unprivileged user namespaces).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from libs.localinfra._proc import InfraError, die_with_parent, free_port, stop_group, tail, wait_until
from libs.localinfra.kube import KubeControlPlane
from libs.localinfra.kueue_build import ensure_kueue_binary

KUEUE_NAMESPACE = "kueue-system"


def config(workdir: Path, *, qps: float, burst: int) -> dict:
    """Returns Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) with this client QPS and burst."""
    return {"apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration", "namespace": KUEUE_NAMESPACE,
            "health": {"healthProbeBindAddress": f"127.0.0.1:{free_port()}"},
            "metrics": {"bindAddress": f"127.0.0.1:{free_port()}"},
            "webhook": {"host": "127.0.0.1", "port": free_port(), "certDir": str(workdir / "certs")},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "clientConnection": {"qps": qps, "burst": burst},
            "integrations": {"frameworks": ["batch/job"]},
            "featureGates": {"VisibilityOnDemand": False}}


@dataclass
class Kueue:
    """One Kueue process against ``plane``; ``start()`` returns once its health probe answers."""

    plane: KubeControlPlane
    workdir: Path
    qps: float = 50  # Kueue's own defaults: 50 and 100
    burst: int = 100
    pid: int | None = None
    settings: dict = field(default_factory=dict)  # the Configuration it was started with

    def start(self, *, timeout: float = 120.0, progress=print) -> "Kueue":
        binary = ensure_kueue_binary(progress=progress)
        self.workdir.mkdir(parents=True, exist_ok=True)
        certs = self._certs()
        self.settings = config(self.workdir, qps=self.qps, burst=self.burst)
        (self.workdir / "config.yaml").write_text(yaml.safe_dump(self.settings, sort_keys=False))
        etc = self._private_etc(certs)
        inner = (f"mount --bind {shlex.quote(str(etc))} /etc && exec {shlex.quote(str(binary))} "
                 f"--config {shlex.quote(str(self.workdir / 'config.yaml'))} --zap-log-level=info")
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=self.workdir, preexec_fn=die_with_parent,
                                    env={**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)})
        self.pid = proc.pid  # unshare and sh exec: this is Kueue's own pid
        health = self.settings["health"]["healthProbeBindAddress"]
        wait_until(lambda: _ok(f"http://{health}/readyz"), timeout=timeout, what="kueue", proc=proc, log=self.log)
        return self

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid, timeout=10)
            self.pid = None

    @property
    def log(self) -> Path:
        return self.workdir / "kueue.log"

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

    def _certs(self) -> Path:
        """Returns a directory with a loopback server certificate as tls.crt / tls.key (metrics and webhooks)."""
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        cert, key = self.plane.ca.server("kueue", "kueue")
        shutil.copy(cert, certs / "tls.crt")
        shutil.copy(key, certs / "tls.key")
        return certs

    def _private_etc(self, certs: Path) -> Path:
        """Returns a copy of /etc with the metrics certificate where Kueue looks for it."""
        etc = self.workdir / "etc"
        if not etc.exists():
            done = subprocess.run(["cp", "-a", "/etc", str(etc)], capture_output=True, text=True)
            if done.returncode != 0 and not etc.exists():  # unreadable odds and ends are not needed
                raise InfraError(f"copying /etc for Kueue's mount namespace failed: {done.stderr[-2000:]}")
        target = etc / "kueue" / "metrics" / "certs"
        target.mkdir(parents=True, exist_ok=True)
        for name in ("tls.crt", "tls.key"):
            shutil.copy(certs / name, target / name)
        return etc


def _ok(url: str) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def install_kueue_crds(cluster) -> None:
    """Installs every CRD Kueue watches (from its module, as kube_crds.py reads them) and its namespace."""
    from libs.localinfra.kube_crds import KUEUE, module_dirs
    bases = module_dirs()[KUEUE] / "config" / "components" / "crd" / "bases"
    cluster.apply(*sorted(bases.glob("*.yaml")))
    cluster.kubectl("wait", "--for", "condition=established", "--timeout", "60s", "crd", "--all")
    cluster.kubectl("create", "namespace", KUEUE_NAMESPACE, check=False)
