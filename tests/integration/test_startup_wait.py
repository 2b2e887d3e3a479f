"""A service started before its database or broker waits for it (issue 16), on real Kafka and PostgreSQL: it logs
one line per attempt, goes on once the dependency is up and handles events; SIGTERM while it waits stops it
cleanly; past BATCHYARD_STARTUP_WAIT_S it exits non-zero with one clear line."""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import pytest

from libs.events import NodeHealthReported
from libs.localinfra.kafka import KafkaServer
from libs.localinfra.postgres import PostgresServer
from libs.localinfra.processes import Platform, ServiceProcess
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
SERVICE = "node-repair"  # any service would do: the wait is the platform's (libs/platform/startup_wait.py)


@pytest.fixture
def postgres_down(tmp_path):
    """A PostgreSQL with its database made, then stopped: a service started now finds nothing on its port."""
    server = PostgresServer(tmp_path / "pg", tied=True).start(progress=lambda *_: None)
    server.stop()
    yield server
    server.stop()


@pytest.fixture
async def start_service(kafka_bootstrap, namespace, postgres_down, tmp_path):
    """Returns a function that starts the service as a real process against the stopped PostgreSQL."""
    await ensure_topics(kafka_bootstrap, namespace)
    platform = Platform(kafka_bootstrap, postgres_down.dsn, namespace, tmp_path)

    def start(**env: str) -> ServiceProcess:
        platform.extra_env.update(env)
        return platform.start([SERVICE]).services[SERVICE]
    yield start
    platform.stop()


def logged(proc: ServiceProcess, text: str):
    async def check() -> bool:
        return text in proc.log_tail(100_000)
    return check


def exited(proc: ServiceProcess):
    async def check() -> bool:
        return proc.proc.poll() is not None
    return check


async def report_handled(proc: ServiceProcess, bootstrap: str, namespace: str, dsn: str) -> bool:
    """Publishes one health report; returns whether the service recorded it as handled within a generous wait."""
    report = NodeHealthReported(node_id="onprem-dc1/a100-0001", heartbeat=True)
    async with EventPublisher(bootstrap, namespace) as publisher:
        await publisher.publish([report])

    async def check() -> bool:
        return await handled(dsn, report.event_id)
    return await eventually(check, timeout=90)


async def handled(dsn: str, event_id) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("select 1 from node_repair.processed_events where event_id = $1", event_id))
    finally:
        await conn.close()


async def test_a_service_started_before_postgres_waits_for_it_then_handles_events(
        start_service, postgres_down, kafka_bootstrap, namespace):
    proc = start_service()
    waiting = f"waiting for PostgreSQL at 127.0.0.1:{postgres_down.port} (attempt 3,"
    assert await eventually(logged(proc, waiting), timeout=90), proc.log_tail()
    assert proc.proc.poll() is None, proc.log_tail()  # still waiting, not exited
    await asyncio.to_thread(postgres_down.start, progress=lambda *_: None)
    assert await eventually(logged(proc, "FastStream app started successfully"), timeout=90), proc.log_tail()

    assert await report_handled(proc, kafka_bootstrap, namespace, postgres_down.dsn), proc.log_tail()
    assert proc.proc.poll() is None, proc.log_tail()


async def test_a_service_started_before_kafka_waits_for_it_then_handles_events(database_url, namespace, tmp_path):
    kafka = KafkaServer(tmp_path / "kafka", tied=True)  # its port is chosen; nothing listens there yet
    platform = Platform(kafka.bootstrap, database_url, namespace, tmp_path)
    proc = platform.start([SERVICE]).services[SERVICE]
    try:
        waiting = f"waiting for Kafka at {kafka.bootstrap} (attempt 3,"
        assert await eventually(logged(proc, waiting), timeout=90), proc.log_tail()
        assert proc.proc.poll() is None, proc.log_tail()
        await asyncio.to_thread(kafka.start)
        assert await eventually(logged(proc, "FastStream app started successfully"), timeout=120), proc.log_tail()
        assert await report_handled(proc, kafka.bootstrap, namespace, database_url), proc.log_tail()
    finally:
        platform.stop()
        kafka.stop()


async def test_sigterm_while_waiting_for_postgres_stops_the_service_cleanly(start_service, postgres_down):
    proc = start_service()
    assert await eventually(logged(proc, "waiting for PostgreSQL"), timeout=90), proc.log_tail()
    os.killpg(proc.proc.pid, signal.SIGTERM)
    assert await eventually(exited(proc), timeout=60), proc.log_tail()
    assert proc.proc.returncode == 0 and "Traceback" not in proc.log_tail(100_000), proc.log_tail()


async def test_past_the_startup_wait_the_service_exits_non_zero_with_one_clear_line(start_service, postgres_down):
    proc = start_service(BATCHYARD_STARTUP_WAIT_S="2")
    assert await eventually(exited(proc), timeout=90), proc.log_tail()
    log = proc.log_tail(100_000)
    assert proc.proc.returncode != 0, log
    assert f"gave up waiting for PostgreSQL at 127.0.0.1:{postgres_down.port} after" in log, log
    assert "Traceback" not in log, log
