"""Kubernetes' own binaries, built once from the Go module proxy into the cache.

``deploy/kube/control-plane`` is a Go module whose one binary holds etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok and kubectl (run through symlinks of those names). It is built
with the installed Go into ``~/.cache/batchyard/kube-<version>-<digest>/`` (the digest covers go.mod, go.sum,
main.go and the Go version, so a change rebuilds), under a file lock so that two runs never build at once.
``BATCHYARD_KUBE_BIN_DIR`` names a directory of existing binaries instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from libs.localinfra._proc import InfraError
from libs.localinfra.cached_build import cached
from libs.localinfra.kafka import REPO_ROOT, cache_dir

KUBE_VERSION = "v1.36.3"  # k8s.io/kubernetes in deploy/kube/control-plane/go.mod
MODULE = REPO_ROOT / "deploy" / "kube" / "control-plane"
PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
REQUIRED = ("etcd", "kube-apiserver", "kube-controller-manager", "kwok", "kubectl")  # kube-scheduler: benchmarks only
_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def ensure_kube_binaries(progress=print) -> Path:
    """Returns a directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
    kubectl, building them on first use (several minutes; progress is reported every few seconds)."""
    if env := os.environ.get("BATCHYARD_KUBE_BIN_DIR"):
        return _checked(Path(env))
    return cached(cache_dir() / f"kube-{KUBE_VERSION}-{_digest()}", lambda staging: _build(staging, progress))


def _checked(directory: Path) -> Path:
    missing = [p for p in REQUIRED if not os.access(directory / p, os.X_OK)]
    if missing:
        raise InfraError(f"BATCHYARD_KUBE_BIN_DIR={directory} lacks executable {', '.join(missing)}")
    return directory


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise InfraError("go is not on PATH: it is needed once to build Kubernetes' control plane from the Go "
                         "module proxy (or set BATCHYARD_KUBE_BIN_DIR to existing binaries, or "
                         "BATCHYARD_KUBECONFIG to an existing cluster)")
    return go


def _digest() -> str:
    """Returns a short digest of what the build depends on: the module's files and the Go version."""
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        h.update((MODULE / name).read_bytes())
    h.update(subprocess.run([_go(), "env", "GOVERSION"], capture_output=True, text=True).stdout.encode())
    return h.hexdigest()[:12]


def _ldflags() -> str:
    """Returns the -X flags that stamp the version (clients parse it; an unstamped build says v0.0.0)."""
    major, minor = re.match(r"v(\d+)\.(\d+)", KUBE_VERSION).groups()
    stamps = [f"-X {pkg}.{var}={value}" for pkg in _VERSION_PACKAGES
              for var, value in (("gitVersion", KUBE_VERSION), ("gitMajor", major), ("gitMinor", minor))]
    return " ".join(["-s", "-w", *stamps])


def _build(staging: Path, progress) -> None:
    go = _go()
    env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0"}
    progress(f"building Kubernetes {KUBE_VERSION} ({', '.join(PROGRAMS)}) from the Go module proxy: once, "
             f"about 5-10 minutes on 2 cores; cached in {staging.with_suffix('')}")
    started = time.monotonic()
    _run([go, "mod", "download"], env, "go mod download")
    total = len(_run([go, "list", "-deps", "."], env, "go list").split())
    cmd = [go, "build", "-v", "-trimpath", "-ldflags", _ldflags(), "-o", str(staging / "kube-control-plane"), "."]
    build_with_progress(cmd, env, total, started, progress)
    for program in PROGRAMS:
        (staging / program).symlink_to("kube-control-plane")
    progress(f"built Kubernetes {KUBE_VERSION} in {time.monotonic() - started:.0f}s")


def _run(cmd: list[str], env: dict, what: str) -> str:
    done = subprocess.run(cmd, cwd=MODULE, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise InfraError(f"{what} failed in {MODULE}:\n{done.stderr[-4000:]}")
    return done.stdout


def build_with_progress(cmd: list[str], env: dict, total: int | None, started: float, progress, *,
                        cwd: Path = MODULE, what: str = "the Kubernetes control plane") -> None:
    """Runs ``go build -v`` or ``go install -v`` (each names the packages it compiles) and reports the count
    every 15 seconds; ``total`` is the most there can be, if known."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    done = threading.Event()
    most = f" of at most {total}" if total else ""

    def report() -> None:
        while not done.wait(15):
            progress(f"  compiled {len(lines)} packages{most} "
                     f"({time.monotonic() - started:.0f}s; cached packages are not counted)")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    for line in proc.stdout:
        lines.append(line.rstrip())
    code = proc.wait()
    done.set()
    if code != 0:
        raise InfraError(f"go build of {what} failed:\n" + "\n".join(lines[-40:]))
