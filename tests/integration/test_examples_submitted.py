"""The shipped examples through the user's door: ``batchyard submit`` with the demo signing key, on real Kafka,
and admission (a real process) accepts every one of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from libs.localinfra.processes import Platform
from libs.platform.observer import FlowObserver
from libs.platform.topics_admin import ensure_topics

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).parents[2] / "examples"
JOBS = sorted(p for p in EXAMPLES.glob("*.yaml") if p.stem != "signing-key")


async def test_every_example_is_submitted_and_accepted(kafka_bootstrap, database_url, namespace, tmp_path):
    await ensure_topics(kafka_bootstrap, namespace)
    admission = Platform(kafka_bootstrap, database_url, namespace, tmp_path).start(["admission"])
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    env = {"BATCHYARD_KAFKA_BOOTSTRAP": kafka_bootstrap, "BATCHYARD_TOPIC_NAMESPACE": namespace,
           "BATCHYARD_SIGNING_KEY_FILE": str(EXAMPLES / "signing-key.yaml"), "BATCHYARD_SUBJECT": "example@test"}
    try:
        ids = []
        for job in JOBS:
            result = await asyncio.to_thread(CliRunner().invoke, app,
                                             ["submit", str(job), "--org", "acme", "--team", "nlp"], env=env)
            assert result.exit_code == 0 and result.output.startswith("submitted "), result.output
            ids.append(result.output.split()[1])
        assert await observer.wait_for(lambda o: all(o.workloads[i].state == "accepted" for i in ids), timeout=90), \
            f"{[(i, observer.workloads[i].state, observer.workloads[i].reason) for i in ids]}\n{admission.logs()}"
        admission.assert_alive()
    finally:
        await observer.stop()
        admission.stop()
