"""One PostgreSQL role per service (``batchyard db roles``): each owns its schema and is refused on another's."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import pytest

from cli.roles import apply, database_of, role_name, roles_sql
from libs.platform import store

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def as_role(dsn: str, role: str, password: str) -> str:
    url = urlparse(dsn)
    return urlunparse(url._replace(netloc=f"{role}:{password}@{url.hostname}:{url.port}"))


@pytest.fixture
async def roles(database_url: str):
    """Applies the roles for admission and quota (with a unique prefix: roles are cluster-wide); drops them after."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    passwords = {"admission": "pw-admission", "quota": "pw-quota", "auditor": "pw-auditor"}
    await apply(database_url, roles_sql(database_of(database_url), prefix=prefix, schemas=("admission", "quota"),
                                        passwords=passwords))
    dsn = {name: as_role(database_url, role_name(prefix, name), pw) for name, pw in passwords.items()}
    yield dsn
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("drop schema if exists admission, quota cascade")
        for name in passwords:
            await conn.execute(f"drop owned by {role_name(prefix, name)}")
            await conn.execute(f"drop role {role_name(prefix, name)}")
    finally:
        await conn.close()


async def migrated_pool(dsn: str, schema: str) -> asyncpg.Pool:
    """Connects as the service does (its schema first on the path) and applies its migrations."""
    pool = await store.create_pool(dsn, schema, size=1)
    await store.migrate(pool, schema, REPO / "services" / schema)
    return pool


REFUSED_ON_ADMISSION = [
    pytest.param("select count(*) from admission.audit_log", id="read-audit"),
    pytest.param("insert into admission.token_claims(jti, binding, expires_at) values ('a/b/c', 'x', 0)",
                 id="write-replay-cache"),
    pytest.param("delete from admission.admitted_workloads", id="delete-admitted"),
    pytest.param("create table admission.planted(x int)", id="create-in-schema"),
    pytest.param("create table public.planted(x int)", id="create-in-public"),
]


@pytest.mark.parametrize("statement", REFUSED_ON_ADMISSION)
async def test_the_quota_role_is_refused_on_admission_tables(roles, statement):
    admission = await migrated_pool(roles["admission"], "admission")
    quota = await migrated_pool(roles["quota"], "quota")
    try:
        await admission.execute("insert into audit_log(event_id, decided_at, outcome, message) "
                                "values (gen_random_uuid(), now(), 'accepted', 'ok')")
        assert await quota.fetchval("select count(*) from quota.processed_events") == 0  # its own: fine
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await quota.execute(statement)
    finally:
        await admission.close()
        await quota.close()


async def test_the_auditor_reads_the_audit_log_and_writes_nothing(roles):
    admission = await migrated_pool(roles["admission"], "admission")
    auditor = await asyncpg.connect(roles["auditor"])
    try:
        await admission.execute("insert into audit_log(event_id, decided_at, outcome, reason, message) "
                                "values (gen_random_uuid(), now(), 'rejected', 'token_missing', 'no token')")
        assert await auditor.fetchval("select count(*) from admission.audit_log") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await auditor.execute("delete from admission.audit_log")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await auditor.execute("select count(*) from quota.outbox")
    finally:
        await auditor.close()
        await admission.close()


async def test_applying_the_roles_twice_is_harmless(roles, database_url):
    await apply(database_url, roles_sql(database_of(database_url), prefix="tx_", schemas=()))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("drop owned by tx_auditor")
        await conn.execute("drop role tx_auditor")
    finally:
        await conn.close()
