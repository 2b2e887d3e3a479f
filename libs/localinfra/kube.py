"""A throwaway Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager and kwok.

Built once from the Go module proxy (kube_build.py); certificates come from a throwaway CA. RBAC is on;
the ServiceAccount admission plugin is off (no token controller issues tokens to pods here). kwok fakes
the kubelets of every node annotated ``kwok.x-k8s.io/node: fake`` and runs their pods by
``deploy/kube/kwok/stages.yaml``. ``kubeconfig`` is the admin's; ``user_kubeconfig`` makes one for any
identity (a certificate whose CN is the user and whose O's are its groups), so tests can act as the
connector's service account under the RBAC in deploy/kube.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from libs.localinfra._proc import InfraError, die_with_parent, free_port, stop_group, tail, wait_until
from libs.localinfra.kafka import REPO_ROOT
from libs.localinfra.kube_build import ensure_kube_binaries
from libs.localinfra.tls import LOOPBACK_SANS, ThrowawayCA, make_signing_key

STAGES = REPO_ROOT / "deploy" / "kube" / "kwok" / "stages.yaml"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"  # nodes carrying it (value "fake") are run by kwok
SERVICE_CIDR = "10.96.0.0/16"
_API_SANS = (*LOOPBACK_SANS, "IP:10.96.0.1", "DNS:kubernetes", "DNS:kubernetes.default",
             "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local")


@dataclass
class KubeControlPlane:
    """One Kubernetes cluster in ``workdir``; ``start()`` returns once the API server is ready."""

    workdir: Path
    name: str = "local"  # the cluster's name in its kubeconfig
    bin_dir: Path | None = None
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    pids: dict[str, int] = field(default_factory=dict)
    ca: ThrowawayCA | None = None
    etcd_url: str | None = None  # another control plane's etcd to share (each cluster under its own prefix)
    tied: bool = True  # its processes die with the process that started them (False: they outlive it, infra up)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        """The admin's kubeconfig (group system:masters)."""
        return self.workdir / "admin.kubeconfig"

    def start(self, *, timeout: float = 120.0, progress=print) -> "KubeControlPlane":
        self.bin_dir = self.bin_dir or ensure_kube_binaries(progress=progress)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._pki()
        try:
            if self.etcd_url is None:
                self._start_etcd(timeout)
            self.start_apiserver(timeout=timeout)
            self._start("kube-controller-manager", self._controller_manager_args())
            self._start("kwok", self._kwok_args())
        except InfraError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in ("kube-scheduler", "kwok", "kube-controller-manager", "kube-apiserver", "etcd"):
            if pid := self.pids.pop(name, None):
                stop_group(pid, timeout=10)

    def stop_apiserver(self) -> None:
        """Stops kube-apiserver alone (tests of a restart mid-run); etcd keeps the state."""
        if pid := self.pids.pop("kube-apiserver", None):
            stop_group(pid, timeout=10)

    def start_apiserver(self, *, timeout: float = 120.0) -> None:
        proc = self._start("kube-apiserver", self._apiserver_args())
        wait_until(lambda: self._get("/readyz") == "ok", timeout=timeout, what="kube-apiserver", proc=proc,
                   log=self._log("kube-apiserver"))

    def start_scheduler(self, *, qps: float = 50, burst: int = 100) -> None:
        """Starts kube-scheduler (the default scheduler, for benchmarks against it), with this client QPS and burst
        (its own defaults are 50 and 100)."""
        config = self.workdir / "kube-scheduler.yaml"
        config.write_text(f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {{kubeconfig: "{self.kubeconfig}", qps: {qps}, burst: {burst}}}
leaderElection: {{leaderElect: false}}
""")
        self._start("kube-scheduler", ["--config", str(config), "--bind-address", "127.0.0.1",
                                       "--secure-port", str(free_port())])

    def stop_scheduler(self) -> None:
        if pid := self.pids.pop("kube-scheduler", None):
            stop_group(pid, timeout=10)

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = (), *, name: str | None = None) -> Path:
        """Returns a kubeconfig for ``user`` in ``groups`` (a client certificate signed by the cluster's CA)."""
        name = name or user.replace(":", "-")
        cert, key = self.ca.client(f"user-{name}", user, groups)
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(_kubeconfig(self.name, self.server, self.ca.cert, cert, key))
        return path

    def kubectl(self, *args: str, kubeconfig: Path | None = None, stdin: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess:
        """Runs the kubectl built with the control plane against this cluster."""
        cmd = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args]
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise InfraError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    # -- start-up pieces -------------------------------------------------------------------------------------

    def _pki(self) -> None:
        pki = self.workdir / "pki"
        self.ca = ThrowawayCA(pki, days=30, server_sans=_API_SANS)
        self.ca.server("apiserver", "kube-apiserver")
        make_signing_key(pki / "service-account.key")
        self.kubeconfig.write_text(_kubeconfig(self.name, self.server, self.ca.cert,
                                               *self.ca.client("admin", "batchyard-admin", ("system:masters",))))
        self.user_kubeconfig("system:kube-controller-manager", ("system:masters",), name="controller-manager")
        self.user_kubeconfig("kwok", ("system:masters",), name="kwok")

    @property
    def etcd(self) -> str:
        """The URL of the etcd this control plane stores its objects in."""
        return self.etcd_url or f"http://127.0.0.1:{self.etcd_port}"

    def _start_etcd(self, timeout: float) -> None:
        client, peer = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{self.etcd_peer_port}"
        proc = self._start("etcd", [
            "--name", "default", "--data-dir", str(self.workdir / "etcd"), "--listen-client-urls", client,
            "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"default={peer}", "--unsafe-no-fsync", "--quota-backend-bytes", str(4 << 30),
            "--log-level", "warn"])
        wait_until(lambda: b'"health":"true"' in urllib.request.urlopen(f"{client}/health", timeout=2).read(),
                   timeout=timeout, what="etcd", proc=proc, log=self._log("etcd"))

    def _apiserver_args(self) -> list[str]:
        pki = self.workdir / "pki"
        return [
            "--etcd-servers", self.etcd, "--etcd-prefix", f"/registry-{self.name}", "--bind-address", "127.0.0.1",
            "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
            "--cert-dir", str(self.workdir / "apiserver"), "--tls-cert-file", str(pki / "apiserver.crt"),
            "--tls-private-key-file", str(pki / "apiserver.key"), "--client-ca-file", str(self.ca.cert),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(pki / "service-account.key.pub"),
            "--service-account-signing-key-file", str(pki / "service-account.key"),
            "--service-cluster-ip-range", SERVICE_CIDR, "--authorization-mode", "RBAC",
            "--disable-admission-plugins", "ServiceAccount", "--allow-privileged=true",
            "--max-requests-inflight", "2000", "--max-mutating-requests-inflight", "1000",
            "--profiling=false", "--event-ttl", "1h"]

    def _controller_manager_args(self) -> list[str]:
        pki = self.workdir / "pki"
        return ["--kubeconfig", str(self.workdir / "controller-manager.kubeconfig"), "--leader-elect=false",
                "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
                "--service-account-private-key-file", str(pki / "service-account.key"),
                "--root-ca-file", str(self.ca.cert), "--use-service-account-credentials=false",
                "--kube-api-qps", "500", "--kube-api-burst", "1000", "--concurrent-job-syncs", "20"]

    def _kwok_args(self) -> list[str]:
        return ["--kubeconfig", str(self.workdir / "kwok.kubeconfig"), "--config", str(STAGES),
                "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", f"{KWOK_ANNOTATION}=fake",
                "--node-lease-duration-seconds", "40", "--cidr", "10.64.0.0/12", "--node-ip", "10.63.0.1",
                "--server-address", f"127.0.0.1:{free_port()}", "--v=WARN"]

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self._log(name), "ab") as log:
            proc = subprocess.Popen([str(self.bin_dir / name), *args], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.workdir,
                                    env={**os.environ, "HOME": str(self.workdir)},
                                    preexec_fn=die_with_parent if self.tied else None)
        self.pids[name] = proc.pid
        return proc

    def _log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        return tail(self._log(name), lines)

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        context.load_cert_chain(self.workdir / "pki" / "admin.crt", self.workdir / "pki" / "admin.key")
        with urllib.request.urlopen(f"{self.server}{path}", timeout=3, context=context) as response:
            return response.read().decode()


def _kubeconfig(cluster: str, server: str, ca: Path, cert: Path, key: Path) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster: {{server: "{server}", certificate-authority: "{ca}"}}
users:
- name: {cluster}-user
  user: {{client-certificate: "{cert}", client-key: "{key}"}}
contexts:
- name: {cluster}
  context: {{cluster: {cluster}, user: {cluster}-user}}
current-context: {cluster}
"""


__all__ = ["InfraError", "KubeControlPlane"]
