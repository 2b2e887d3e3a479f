"""Helm, for rendering and linting the chart in ``deploy/helm/batchyard``: the one on PATH if it is new enough,
otherwise built once from the Go module proxy (``helm.sh/helm/v3/cmd/helm`` at a pinned version) into the same
cache as Kubernetes' binaries, ``~/.cache/batchyard/helm-<version>/helm``, under a file lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from libs.localinfra._proc import InfraError
from libs.localinfra.cached_build import cached
from libs.localinfra.kafka import cache_dir
from libs.localinfra.kube_build import build_with_progress

HELM_VERSION = "v3.21.4"
HELM_PACKAGE = "helm.sh/helm/v3/cmd/helm"
MIN_VERSION = (3, 14)  # a helm on PATH older than this is ignored (the chart uses apiVersion v2 and nothing newer)
# helm stamps its own version and the Kubernetes version ``helm template`` assumes (its k8s.io modules: 1.36)
# through -X flags, as its Makefile does; unstamped, it would say v3.21 and render for Kubernetes 1.20.
_STAMPS = {"helm.sh/helm/v3/internal/version.version": HELM_VERSION,
           **{f"helm.sh/helm/v3/pkg/{pkg}.k8sVersion{part}": number for pkg in ("chartutil", "lint/rules")
              for part, number in (("Major", "1"), ("Minor", "36"))}}


def ensure_helm(progress=print) -> Path:
    """Returns the path of a helm binary: the one on PATH when it is at least MIN_VERSION, else the cached
    build, building it on first use (a few minutes; progress is reported every few seconds)."""
    on_path = shutil.which("helm")
    if on_path and (version_of(on_path) or (0,)) >= MIN_VERSION:
        return Path(on_path)
    return cached(cache_dir() / f"helm-{HELM_VERSION}", lambda staging: _build(staging, progress)) / "helm"


def version_of(helm: str | Path) -> tuple[int, ...] | None:
    """Returns helm's (major, minor) version, or None if it does not answer like helm."""
    try:
        done = subprocess.run([str(helm), "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.match(r"v(\d+)\.(\d+)", done.stdout.strip())
    return tuple(int(n) for n in found.groups()) if done.returncode == 0 and found else None


def _build(staging: Path, progress) -> None:
    go = shutil.which("go")
    if go is None:
        raise InfraError("go is not on PATH: it is needed once to build helm from the Go module proxy (or put "
                         f"helm {'.'.join(map(str, MIN_VERSION))}+ on PATH)")
    env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false", "CGO_ENABLED": "0", "GOBIN": str(staging)}
    progress(f"building helm {HELM_VERSION} from the Go module proxy: once, a few minutes on 2 cores; "
             f"cached in {staging.with_suffix('')}")
    started = time.monotonic()
    ldflags = " ".join(["-s", "-w", *(f"-X {name}={value}" for name, value in _STAMPS.items())])
    cmd = [go, "install", "-v", "-trimpath", "-ldflags", ldflags, f"{HELM_PACKAGE}@{HELM_VERSION}"]
    build_with_progress(cmd, env, None, started, progress, cwd=staging, what="helm")
    if version_of(staging / "helm") is None:
        raise InfraError(f"the helm built in {staging} does not run")
    progress(f"built helm {HELM_VERSION} in {time.monotonic() - started:.0f}s")
