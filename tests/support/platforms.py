"""The whole platform as processes on the fault-free demo fleet, with a quota config of the test's own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from libs.localinfra.processes import Platform
from libs.platform.topics_admin import ensure_topics
from tests.support.fleets import fault_free_fleet


@contextlib.asynccontextmanager
async def simulated_platform(kafka_bootstrap: str, database_url: str, namespace: str, tmp_path: Path,
                             quota_yaml: str, time_scale: int = 1800,
                             pod_failure_probability: float = 0.0) -> AsyncIterator[Platform]:
    """Starts every service on ``namespace``'s topics with ``quota_yaml`` and the fault-free demo fleet (its clock
    ``time_scale`` times faster than the wall; pods failing at ``pod_failure_probability``); stops them all on
    exit, failed or not."""
    path = tmp_path / "quota.yaml"
    path.write_text(quota_yaml)
    await ensure_topics(kafka_bootstrap, namespace)
    platform = Platform(kafka_bootstrap, database_url, namespace, tmp_path,
                        extra_env={"BATCHYARD_TIME_SCALE": str(time_scale), "BATCHYARD_QUOTA_CONFIG": str(path),
                                   "BATCHYARD_FLEET_SPEC": fault_free_fleet(tmp_path, pod_failure_probability)})
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()
