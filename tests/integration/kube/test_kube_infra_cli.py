"""``batchyard infra up --kubernetes`` starts Kafka, PostgreSQL and a control plane that outlive the command, ready
for batchyard (CRDs, the demo's on-prem kwok nodes); ``infra status`` sees them; ``infra down`` stops them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.localinfra._proc import port_open
from libs.localinfra.processes import REPO

pytestmark = pytest.mark.integration


def batchyard(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_infra_up_with_kubernetes_then_down(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHYARD_")}
    env["BATCHYARD_INFRA_DIR"] = str(tmp_path / "var")
    up = batchyard("infra", "up", "--kubernetes", env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((tmp_path / "var" / "infra.json").read_text())
        kubeconfig = state["kubernetes"]["kubeconfig"]
        assert f"export BATCHYARD_KUBECONFIG={kubeconfig}" in up.stdout
        nodes = subprocess.run([state["kubernetes"]["kubectl"], "--kubeconfig", kubeconfig, "get", "nodes", "-o",
                                "json"], capture_output=True, text=True, check=True)
        assert len(json.loads(nodes.stdout)["items"]) == 40, "the demo fleet's on-prem nodes"
        status = batchyard("infra", "status", env=env)
        assert status.returncode == 0 and "kubernetes: up" in status.stdout, status.stdout + status.stderr
    finally:
        down = batchyard("infra", "down", env=env)
    assert down.returncode == 0 and "stopped kubernetes" in down.stdout
    assert not port_open(state["kubernetes"]["port"]) and not port_open(state["kafka"]["port"])
