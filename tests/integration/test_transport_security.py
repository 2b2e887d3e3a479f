"""Transport security, end to end: SASL/SCRAM over TLS to Kafka, TLS to PostgreSQL with one role per service.

Starts its own secured servers (not the session's shared ones), once for the module: a Kafka whose only client
listener is SASL_SSL (SCRAM-SHA-512, certificate from a throwaway CA) and a PostgreSQL that refuses connections
without TLS. The admission service runs on them from nothing but its settings (docs/transport-security.md).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError

from cli.roles import apply, database_of, role_name, roles_sql
from cli.submit import kafka_client_options
from libs.events import PodSet, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.localinfra import KafkaServer, PostgresServer
from libs.localinfra.databases import create_database
from libs.platform import store
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.service import create_app, kafka_security
from libs.platform.settings import KafkaSecurity, Settings
from libs.platform.topics_admin import ensure_topics
from services.admission.app import DEFINITION
from services.admission.signing import demo_signer

pytestmark = pytest.mark.integration
if shutil.which("openssl") is None:
    pytest.skip("openssl is not installed: it makes the throwaway CA the secured Kafka and PostgreSQL need",
                allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
KAFKA_USERS = {"admission": "admission-kafka-secret", "client": "client-kafka-secret"}
DB_PASSWORDS = {"admission": "admission-db-secret", "quota": "quota-db-secret", "auditor": "auditor-db-secret"}
ROLE_PREFIX = "tls_"


@dataclass
class Secured:
    """The module's secured servers and the DSNs (over verified TLS) of each service's role."""

    kafka: KafkaServer
    postgres: PostgresServer
    dsn: dict[str, str]  # admin, and one per role in DB_PASSWORDS

    def kafka_security(self, username: str = "client", password: str | None = None, **changes) -> KafkaSecurity:
        """Returns the settings a service or client uses for the secured broker (its own password by default)."""
        fields = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": username,
                  "sasl_password": KAFKA_USERS.get(username) if password is None else password,
                  "ssl_cafile": str(self.kafka.ca_file)}
        return KafkaSecurity(**{**fields, **changes})


def with_sslmode(dsn: str, query: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(query=query))


def as_role(dsn: str, role: str, password: str) -> str:
    url = urlsplit(dsn)
    return urlunsplit(url._replace(netloc=f"{role}:{password}@{url.hostname}:{url.port}"))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[KafkaServer, PostgresServer]]:
    """Starts the secured Kafka and PostgreSQL side by side on 127.0.0.1; stops both whatever happens."""
    root = Path(tempfile.mkdtemp(prefix="batchyard-tls-"))
    kafka = KafkaServer(root / "kafka", scram_users=KAFKA_USERS)
    postgres = PostgresServer(root / "postgres", tls=True)
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


@pytest.fixture(scope="module")
async def secured(servers) -> Secured:
    """A database with one role per service (``batchyard db roles``), each schema migrated by its own role."""
    kafka, postgres = servers
    admin = await create_database(postgres.dsn)  # the server's DSN: verify-full against its throwaway CA
    schemas = ("admission", "quota")
    await apply(admin, roles_sql(database_of(admin), prefix=ROLE_PREFIX, schemas=schemas, passwords=DB_PASSWORDS))
    dsn = {name: as_role(admin, role_name(ROLE_PREFIX, name), pw) for name, pw in DB_PASSWORDS.items()}
    for schema in schemas:
        pool = await store.create_pool(dsn[schema], schema, size=1)
        try:
            await store.migrate(pool, schema, REPO / "services" / schema)
        finally:
            await pool.close()
    return Secured(kafka=kafka, postgres=postgres, dsn={"admin": admin, **dsn})


def submission(workload_id: str) -> WorkloadSubmitted:
    spec = WorkloadSpec(name="job", pod_sets=(PodSet(name="main", count=1),))
    return WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org="acme", team="vision"), spec=spec,
                             producer="test")


async def test_admission_decides_over_sasl_ssl_kafka_and_tls_postgres_as_its_own_role(secured: Secured,
                                                                                        monkeypatch):
    # configured as an operator would (docs/transport-security.md): only environment variables
    for name, value in {"BATCHYARD_KAFKA_BOOTSTRAP": secured.kafka.bootstrap,
                        "BATCHYARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                        "BATCHYARD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                        "BATCHYARD_KAFKA_SASL_USERNAME": "admission",
                        "BATCHYARD_KAFKA_SASL_PASSWORD": KAFKA_USERS["admission"],
                        "BATCHYARD_KAFKA_SSL_CAFILE": str(secured.kafka.ca_file),
                        "BATCHYARD_DATABASE_URL": secured.dsn["admission"]}.items():  # verify-full, its CA
        monkeypatch.setenv(name, value)
    settings = Settings(topic_namespace="tls", retry_backoff_s=0.01, admission_reload_s=0)
    assert settings.kafka_security == secured.kafka_security("admission")
    assert "sslmode=verify-full&sslrootcert=" in settings.database_url
    client = kafka_client_options(Settings(kafka_security=secured.kafka_security("client")))  # `batchyard submit`'s
    app = create_app(settings, DEFINITION)  # topics are created at start-up, over SASL_SSL too
    async with app:
        observer = await FlowObserver(secured.kafka.bootstrap, "tls", **client).start()
        try:
            async with EventPublisher(secured.kafka.bootstrap, "tls", **client) as publisher:
                await publisher.publish([demo_signer("tls@acme")(submission("tls-signed")),
                                         submission("tls-unsigned")])
            decided = await observer.wait_for(lambda o: o.counts["WorkloadAccepted"] + o.counts["WorkloadRejected"]
                                              >= 2, timeout=60)
        finally:
            await observer.stop()
        assert decided, f"no verdicts over SASL_SSL within 60 s: {dict(observer.counts)}"
        assert observer.workloads["tls-signed"].state == "accepted"
        assert observer.workloads["tls-unsigned"].state == "rejected"
        # the server's own view of the service's connections: its role, and TLS on every one of them
        sessions = await app.runtime.pool.fetch(
            "select a.usename, s.ssl, s.version from pg_stat_activity a join pg_stat_ssl s using (pid) "
            "where a.application_name = 'admission'")
        audited = await app.runtime.pool.fetchval("select count(*) from audit_log where workload_id like 'tls-%'")
    assert sessions and {(r["usename"], r["ssl"]) for r in sessions} == {(f"{ROLE_PREFIX}admission", True)}
    assert {r["version"] for r in sessions} <= {"TLSv1.2", "TLSv1.3"}
    assert audited == 2


def refused_kafka_clients(s: Secured) -> dict[str, tuple[KafkaSecurity, str]]:
    """Returns client settings the broker must refuse: name -> (settings, what aiokafka logs as the reason)."""
    return {
        "wrong-scram-password": (s.kafka_security("client", "not-the-password"), "SaslAuthenticationFailed"),
        "unknown-user": (s.kafka_security("mallory", "whatever"), "SaslAuthenticationFailed"),
        "scram-sha-256": (s.kafka_security(sasl_mechanism="SCRAM-SHA-256"), "UnsupportedSaslMechanism"),
        "no-ca": (s.kafka_security(ssl_cafile=None), "CERTIFICATE_VERIFY_FAILED"),  # the system's CAs only
        "another-ca": (s.kafka_security(ssl_cafile=str(s.postgres.ca_file)), "CERTIFICATE_VERIFY_FAILED"),
        "plaintext": (KafkaSecurity(), "closed"),  # the TLS listener hangs up on a plaintext request
        "sasl-without-tls": (s.kafka_security(security_protocol="SASL_PLAINTEXT"), "closed"),
    }


@pytest.mark.parametrize("case", ["wrong-scram-password", "unknown-user", "scram-sha-256", "no-ca", "another-ca",
                                  "plaintext", "sasl-without-tls"])
async def test_the_broker_refuses_a_client_without_the_right_credentials_or_ca(secured: Secured, case, caplog):
    security, reason = refused_kafka_clients(secured)[case]
    settings = Settings(kafka_bootstrap=secured.kafka.bootstrap, kafka_security=security)
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        # what a service does first at start-up, with its settings' security
        await asyncio.wait_for(ensure_topics(settings.kafka_bootstrap, "refused", security=kafka_security(settings),
                                             request_timeout_ms=5000), timeout=30)
    assert reason in caplog.text, caplog.text


async def test_postgres_refuses_connections_without_verified_tls(secured: Secured):
    verified = secured.dsn["admission"]
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        await asyncpg.connect(with_sslmode(verified, "sslmode=disable"))
    with pytest.raises(ssl.SSLCertVerificationError):  # a CA that did not sign the server's certificate
        await asyncpg.connect(with_sslmode(verified, f"sslmode=verify-full&sslrootcert={secured.kafka.ca_file}"))
    with pytest.raises(asyncpg.InvalidPasswordError):  # TLS is not a login: the role's password still counts
        await asyncpg.connect(as_role(verified, f"{ROLE_PREFIX}admission", "not-the-password"))


async def test_over_tls_a_service_role_cannot_touch_another_services_schema(secured: Secured):
    quota = await asyncpg.connect(secured.dsn["quota"])
    try:
        assert await quota.fetchval("select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True
        assert await quota.fetchval("select count(*) from quota.processed_events") >= 0  # its own: fine
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await quota.execute("insert into admission.audit_log(event_id, decided_at, outcome, message) "
                                "values (gen_random_uuid(), now(), 'accepted', 'planted')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await quota.fetchval("select count(*) from admission.audit_log")
    finally:
        await quota.close()
