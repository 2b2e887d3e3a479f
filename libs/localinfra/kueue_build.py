"""Kueue's controller manager, built once from the Go module proxy into the cache (for benchmarks only).

Kueue builds in its own Go module: a scratch module in ``~/.cache/batchyard/kueue-<version>-<digest>.src``
requires ``sigs.k8s.io/kueue`` at ``KUEUE_VERSION`` (``go get``), then ``go build`` makes
``~/.cache/batchyard/kueue-<version>-<digest>/kueue`` (about 7 minutes on 2 cores; the digest covers the version
and the Go version), under a file lock so that two runs never build at once. Never part of ``./task setup``:
``.venv/bin/python -m libs.localinfra.kueue_build`` fetches it ahead of time, and the benchmark builds it on
demand. ``BATCHYARD_KUEUE_BIN`` names an existing binary instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from libs.localinfra._proc import InfraError
from libs.localinfra.cached_build import cached
from libs.localinfra.kafka import cache_dir
from libs.localinfra.kube_build import build_with_progress

KUEUE_VERSION = "v0.17.0"  # the version kube_crds.py reads Kueue's CRDs from (deploy/kube/operator-crds)
PACKAGE = "sigs.k8s.io/kueue/cmd/kueue"


def ensure_kueue_binary(progress=print) -> Path:
    """Returns the path of Kueue's controller manager binary, building it on first use."""
    if env := os.environ.get("BATCHYARD_KUEUE_BIN"):
        if not os.access(env, os.X_OK):
            raise InfraError(f"BATCHYARD_KUEUE_BIN={env} is not an executable")
        return Path(env)
    target = cache_dir() / f"kueue-{KUEUE_VERSION}-{_digest()}"
    return cached(target, lambda staging: _build(staging, progress)) / "kueue"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise InfraError("go is not on PATH: it is needed once to build Kueue from the Go module proxy (or set "
                         "BATCHYARD_KUEUE_BIN to an existing kueue binary)")
    return go


def _digest() -> str:
    go_version = subprocess.run([_go(), "env", "GOVERSION"], capture_output=True, text=True).stdout
    return hashlib.sha256(f"{KUEUE_VERSION}\n{go_version}".encode()).hexdigest()[:12]


def _build(staging: Path, progress) -> None:
    go = _go()
    target = staging.with_suffix("")
    source = Path(str(target) + ".src")
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    (source / "go.mod").write_text("module batchyard.dev/kueue-build\n\ngo 1.25.0\n")
    env = {**os.environ, "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
    progress(f"building Kueue {KUEUE_VERSION} from the Go module proxy: once, about 7 minutes on 2 cores; "
             f"cached in {target}")
    started = time.monotonic()
    _run([go, "get", f"{PACKAGE}@{KUEUE_VERSION}"], source, env, "go get")
    total = len(_run([go, "list", "-deps", PACKAGE], source, env, "go list").split())
    cmd = [go, "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "kueue"), PACKAGE]
    build_with_progress(cmd, env, total, started, progress, cwd=source, what="Kueue")
    shutil.rmtree(source, ignore_errors=True)
    progress(f"built Kueue {KUEUE_VERSION} in {time.monotonic() - started:.0f}s")


def _run(cmd: list[str], cwd: Path, env: dict, what: str) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise InfraError(f"{what} for Kueue failed in {cwd}:\n{done.stderr[-4000:]}")
    return done.stdout


if __name__ == "__main__":
    print(ensure_kueue_binary())
