"""Kueue as benchmarks/kube_vs_kueue.py runs it: on a throwaway control plane, in its own mount namespace, with the
benchmark's quota file, it admits each team's Jobs up to the team's cap and no further. Skipped unless Kueue is
already built (``.venv/bin/python -m libs.localinfra.kueue_build``): the test never builds it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from benchmarks.kueue_jobs import TEAMS, expected_admitted, jobs, quota_yaml
from libs.localinfra.cached_build import is_built
from libs.localinfra.kafka import cache_dir
from libs.localinfra.kube_session import kube_clusters
from libs.localinfra.kueue import Kueue, install_kueue_crds
from libs.localinfra.kueue_build import KUEUE_VERSION

JOBS = 16


def _built() -> bool:
    if os.environ.get("BATCHYARD_KUEUE_BIN"):
        return True
    return any(is_built(d) for d in cache_dir().glob(f"kueue-{KUEUE_VERSION}-*"))


pytestmark = pytest.mark.skipif(not _built(), reason="Kueue is not built (python -m libs.localinfra.kueue_build)")


def _unsuspended(cluster) -> dict[str, int]:
    listed = json.loads(cluster.kubectl("get", "jobs", "-A", "-o", "json").stdout)["items"]
    out = {team: 0 for team in TEAMS}
    for job in listed:
        if not job["spec"].get("suspend"):
            out[job["metadata"]["namespace"]] += 1
    return out


def test_kueue_admits_each_team_up_to_its_cap(tmp_path: Path):
    with kube_clusters(["kueue-side"]) as clusters:
        cluster = clusters["kueue-side"]
        for ns in TEAMS:
            cluster.kubectl("create", "namespace", ns)
        install_kueue_crds(cluster)
        (tmp_path / "quota.yaml").write_text(quota_yaml(JOBS))
        cluster.apply(tmp_path / "quota.yaml")
        cluster.apply(stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": jobs(JOBS, "t")}))
        kueue = Kueue(cluster.control_plane, tmp_path / "kueue", qps=50, burst=100).start()
        try:
            deadline = time.monotonic() + 90
            while _unsuspended(cluster) != expected_admitted(JOBS) and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(3)  # nothing beyond the caps comes later
            assert _unsuspended(cluster) == expected_admitted(JOBS), kueue.log_tail()
        finally:
            kueue.stop()
    assert not Path("/etc/kueue").exists()  # its certificate went to its private /etc only
