"""Session-wide real Kafka and PostgreSQL; per-test topic namespace and database."""

from __future__ import annotations

import uuid

import pytest

from tests.support import servers
from libs.localinfra.databases import create_database


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    with servers.kafka() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    with servers.postgres() as dsn:
        yield dsn


@pytest.fixture
async def database_url(postgres_admin_dsn: str) -> str:
    return await create_database(postgres_admin_dsn)


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"
