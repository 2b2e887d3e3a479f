"""Optional mutual TLS: services present client certificates to Kafka and PostgreSQL, and a client without one is
refused. Both servers trust a throwaway CA (libs/localinfra/tls.py) and run only for this module."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError

from cli.roles import apply, database_of, role_name, roles_sql
from libs.localinfra.kafka_authz import AuthorizingKafkaServer
from libs.localinfra.postgres_mtls import MutualTlsPostgresServer
from libs.platform.service import kafka_security
from libs.platform.settings import KafkaSecurity, Settings
from libs.platform.topics_admin import ensure_topics

pytestmark = pytest.mark.integration
if shutil.which("openssl") is None:
    pytest.skip("openssl is not installed: it makes the throwaway CA", allow_module_level=True)

USERS = {"admin": "admin-secret", "admission": "admission-secret"}
DB_PASSWORD = "admission-db-secret"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[AuthorizingKafkaServer, MutualTlsPostgresServer]]:
    root = Path(tempfile.mkdtemp(prefix="batchyard-mtls-"))
    kafka = AuthorizingKafkaServer(root / "kafka", scram_users=USERS, client_certificates=True)
    postgres = MutualTlsPostgresServer(root / "postgres")
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for started in [pool.submit(kafka.start, progress=lambda _: None),
                            pool.submit(postgres.start, progress=lambda _: None)]:
                started.result()
        yield kafka, postgres
    finally:
        kafka.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def security(kafka: AuthorizingKafkaServer, *, certificate: bool) -> KafkaSecurity:
    cert, key = kafka.client_certificate("admin") if certificate else (None, None)
    return KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="admin",
                         sasl_password=USERS["admin"], ssl_cafile=str(kafka.ca_file),
                         ssl_certfile=str(cert) if cert else None, ssl_keyfile=str(key) if key else None)


async def test_kafka_accepts_a_client_certificate_and_refuses_a_client_without_one(servers, caplog):
    kafka, _ = servers
    settings = Settings(kafka_bootstrap=kafka.bootstrap, kafka_security=security(kafka, certificate=True))
    created = await ensure_topics(kafka.bootstrap, "mtls", security=kafka_security(settings))  # as a service starts
    assert set(created.values()) == {"created"}
    bare = Settings(kafka_bootstrap=kafka.bootstrap, kafka_security=security(kafka, certificate=False))
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(ensure_topics(kafka.bootstrap, "bare", security=kafka_security(bare),
                                             request_timeout_ms=5000), timeout=30)


@pytest.fixture(scope="module")
async def role_dsn(servers) -> str:
    """The admission role's DSN over verified TLS, without a client certificate."""
    _, postgres = servers
    from libs.localinfra.databases import create_database
    admin = await create_database(postgres.dsn)
    await apply(admin, roles_sql(database_of(admin), prefix="mtls_", schemas=("admission",),
                                 passwords={"admission": DB_PASSWORD}))
    return (f"postgresql://{role_name('mtls_', 'admission')}:{DB_PASSWORD}@127.0.0.1:{postgres.port}/"
            f"{database_of(admin)}?sslmode=verify-full&sslrootcert={quote(str(postgres.ca_file))}")


async def test_postgres_accepts_the_roles_certificate_and_refuses_a_client_without_one(servers, role_dsn):
    _, postgres = servers
    role = role_name("mtls_", "admission")
    cert, key = postgres.client_certificate(role)
    conn = await asyncpg.connect(f"{role_dsn}&sslcert={quote(str(cert))}&sslkey={quote(str(key))}")
    try:
        assert await conn.fetchval("select current_user") == role
        assert await conn.fetchval("select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True
    finally:
        await conn.close()
    with pytest.raises((asyncpg.InvalidAuthorizationSpecificationError, ConnectionError, ssl.SSLError)):
        await asyncpg.connect(role_dsn)  # TLS and the right password, but no certificate
    other_cert, other_key = postgres.client_certificate("someone_else")
    # the right password, but a certificate for another CN: PostgreSQL answers as for any failed authentication
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(f"{role_dsn}&sslcert={quote(str(other_cert))}&sslkey={quote(str(other_key))}")
