"""Picks the road to real Kafka and PostgreSQL for a test session.

1. ``BATCHYARD_KAFKA_BOOTSTRAP`` / ``BATCHYARD_DATABASE_URL`` point at existing servers: use them.
2. A Docker engine answers: testcontainers (apache/kafka, postgres), as in docker-compose.yml.
3. Otherwise: Kafka from its Maven Central jars and PostgreSQL from the installed binaries, on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:16"


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    """Yields a Kafka bootstrap address for the session and stops what it started."""
    if env := os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"):
        yield env
    elif docker_available():
        yield from _kafka_container()
    else:
        from libs.localinfra import KafkaServer
        from libs.localinfra.session import throwaway
        with throwaway(KafkaServer, "batchyard-kafka-") as server:
            yield server.bootstrap


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """Yields a PostgreSQL DSN (an admin connection to database ``batchyard``) and stops what it started."""
    if env := os.environ.get("BATCHYARD_DATABASE_URL"):
        yield env
    elif docker_available():
        from testcontainers.postgres import PostgresContainer
        with PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres", dbname="batchyard") as pg:
            yield pg.get_connection_url(driver=None)
    else:
        from libs.localinfra import PostgresServer
        from libs.localinfra.session import throwaway
        with throwaway(PostgresServer, "batchyard-pg-") as server:
            yield server.dsn


def _kafka_container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from libs.localinfra._proc import free_port
    port = free_port()
    container = (DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
                 .with_env("KAFKA_NODE_ID", "1").with_env("KAFKA_PROCESS_ROLES", "broker,controller")
                 .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
                 .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
                 .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
                 .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
                 .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
                 .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
                 .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
                 .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
                 .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"))
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield f"127.0.0.1:{port}"
