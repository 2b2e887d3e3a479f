"""A service told to stop (SIGTERM) stops within a bounded time even when Kafka is gone: its graceful stop may wait
on an offset commit or on unsent records that can never complete, and it must not outlive whoever started it
(the broker-loss test's services ignored SIGTERM and had to be killed by hand)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from libs.localinfra.kafka import KafkaServer
from libs.localinfra.processes import Platform
from libs.localinfra.steady_load import platform_env
from libs.platform.topics_admin import ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def lone_broker(tmp_path):
    kafka = KafkaServer(tmp_path / "kafka", tied=True).start()
    yield kafka
    kafka.stop()


@pytest.mark.parametrize("service", ["sim-fleet", "cost-reporting"])
async def test_sigterm_without_kafka_stops_the_service_in_bounded_time(lone_broker, database_url, namespace,
                                                                       tmp_path, service):
    await ensure_topics(lone_broker.bootstrap, namespace)
    platform = Platform(lone_broker.bootstrap, database_url, namespace, tmp_path,
                        extra_env=platform_env(tmp_path / "config"))
    proc = platform.start([service]).services[service]
    try:
        log = tmp_path / f"{service}.1.log"
        deadline = time.monotonic() + 90
        while "FastStream app started successfully" not in (log.read_text(errors="replace") if log.exists() else ""):
            assert proc.proc.poll() is None and time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.2)
        time.sleep(2)  # the simulated fleet's ticker has records in flight to the producer
        lone_broker.kill()
        time.sleep(1)
        started = time.monotonic()
        os.killpg(proc.proc.pid, signal.SIGTERM)
        deadline = started + 14  # the process launcher's own patience is 15 s before it SIGKILLs
        while proc.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        took = time.monotonic() - started
        assert proc.proc.poll() is not None, f"{service} still running {took:.0f}s after SIGTERM\n{proc.log_tail()}"
    finally:
        proc.kill()
