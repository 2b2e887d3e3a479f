"""Real Kafka and PostgreSQL for one run of the demo or a benchmark: existing servers if the environment names
them, otherwise throwaway ones on 127.0.0.1 that are stopped and deleted at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from libs.localinfra.kafka import KafkaServer
from libs.localinfra.postgres import PostgresServer


@dataclass(frozen=True)
class Servers:
    bootstrap: str
    database_url: str
    started_here: bool


@contextlib.contextmanager
def servers(progress=print) -> Iterator[Servers]:
    env_kafka, env_db = os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"), os.environ.get("BATCHYARD_DATABASE_URL")
    if env_kafka and env_db:
        yield Servers(env_kafka, env_db, started_here=False)
        return
    root = Path(tempfile.mkdtemp(prefix="batchyard-"))
    kafka = postgres = None
    try:
        if not env_kafka:
            progress("starting Apache Kafka (KRaft) on 127.0.0.1 ...")
            kafka = KafkaServer(root / "kafka").start(progress=progress)
        if not env_db:
            progress("starting PostgreSQL on 127.0.0.1 ...")
            postgres = PostgresServer(root / "postgres").start(progress=progress)
        yield Servers(env_kafka or kafka.bootstrap, env_db or postgres.dsn, started_here=True)
    finally:
        for server in (kafka, postgres):
            if server is not None:
                server.stop()
        shutil.rmtree(root, ignore_errors=True)
