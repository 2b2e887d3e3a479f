"""``batchyard infra up --brokers 3``: a three-node Kafka cluster for developers, which topics use as one that may
lose a broker (replication 3, min.insync.replicas 2); down stops every node."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from libs.events.topics import SUBMITTED
from libs.localinfra._proc import _alive
from libs.localinfra.processes import REPO
from libs.platform.topics_admin import ensure_topics
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def batchyard(var, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BATCHYARD_INFRA_DIR": str(var)}
    env.pop("BATCHYARD_KAFKA_BOOTSTRAP", None)
    return subprocess.run([sys.executable, "-m", "cli.main", "infra", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_secure_and_several_brokers_is_refused_in_one_line(tmp_path):
    done = batchyard(tmp_path, "up", "--secure", "--brokers", "3")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: --secure runs one broker: a secured cluster of several (--brokers) is not supported yet"], done.stderr
    assert not (tmp_path / "infra.json").exists()


async def test_three_brokers_up_replicated_and_down(tmp_path):
    up = batchyard(tmp_path, "up", "--brokers", "3")
    state = json.loads((tmp_path / "infra.json").read_text()) if (tmp_path / "infra.json").exists() else {}
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        bootstrap = state["kafka"]["bootstrap"]
        assert len(bootstrap.split(",")) == 3 and f"BATCHYARD_KAFKA_BOOTSTRAP={bootstrap}" in up.stdout
        await ensure_topics(bootstrap, "dev")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            assert len((await admin.describe_cluster())["brokers"]) == 3
            # ensure_topics waited for leaders as one broker sees them; the broker this client asks may apply the
            # metadata log a moment later (KRaft brokers catch up asynchronously): ask until it knows the topic
            seen: list[dict] = []

            async def described() -> bool:
                seen[:] = await admin.describe_topics([SUBMITTED.qualified("dev")])
                return bool(seen[0]["partitions"])
            assert await eventually(described, timeout=30, interval=0.2), f"no partitions in the metadata: {seen}"
            (topic,) = seen
            assert {len(p["replicas"]) for p in topic["partitions"]} == {3}
            # describe_configs may go to yet another broker, which answers UNKNOWN_TOPIC_OR_PARTITION (code 3, no
            # entries) until it has applied the topic's record: ask until one answers without an error
            answer: list = []

            async def configured() -> bool:
                (config,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                                         SUBMITTED.qualified("dev"))])
                answer[:] = config.resources[0]  # (error code, message, type, name, entries)
                return answer[0] == 0
            assert await eventually(configured, timeout=30, interval=0.2), f"topic config not described: {answer}"
            entries = {e[0]: e[1] for e in answer[4]}
            assert entries["min.insync.replicas"] == "2"
        finally:
            await admin.close()
        status = batchyard(tmp_path, "status")
        assert status.returncode == 0 and "kafka: up on" in status.stdout, status.stdout
    finally:
        down = batchyard(tmp_path, "down")
    assert down.returncode == 0 and "stopped kafka" in down.stdout, down.stdout + down.stderr
    assert not any(_alive(pid) for pid in state["kafka"]["pids"])
