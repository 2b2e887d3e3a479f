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


@contextlib.contextmanager
def servers(progress=print) -> Iterator[Servers]:
    env_kafka, env_db = os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"), os.environ.get("BATCHYARD_DATABASE_URL")
    if env_kafka and env_db:
        yield Servers(env_kafka, env_db)
        return
    with contextlib.ExitStack() as started:
        if not env_kafka:
            progress("starting Apache Kafka (KRaft) on 127.0.0.1 ...")
            env_kafka = started.enter_context(throwaway(KafkaServer, "batchyard-kafka-", progress)).bootstrap
        if not env_db:
            progress("starting PostgreSQL on 127.0.0.1 ...")
            env_db = started.enter_context(throwaway(PostgresServer, "batchyard-pg-", progress)).dsn
        yield Servers(env_kafka, env_db)


@contextlib.contextmanager
def throwaway(server_class: type[KafkaServer] | type[PostgresServer], prefix: str,
              progress=print) -> Iterator[KafkaServer | PostgresServer]:
    """Starts a server in a fresh temporary directory, yields it, then stops it and deletes the directory."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    server = server_class(workdir, tied=True)  # a killed run leaves no server behind
    try:
        yield server.start(progress=progress)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
