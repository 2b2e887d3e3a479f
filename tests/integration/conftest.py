from __future__ import annotations

import pytest

from libs.platform.topics_admin import ensure_topics
from libs.localinfra.processes import Platform


@pytest.fixture
async def platform(kafka_bootstrap, database_url, namespace, tmp_path):
    """All six services as real processes, with the fleet's clock at 1 wall second = 30 simulated minutes."""
    await ensure_topics(kafka_bootstrap, namespace)
    p = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env={"BATCHYARD_TIME_SCALE": "1800"})
    p.start()
    yield p
    p.stop()
