"""Postgres access: one asyncpg pool per service, one schema per service, versioned SQL migrations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"
# Failures a server that is down, starting or restarting gives: worth waiting out at start-up (startup_wait).
# OSError covers a refused connection and a connect timeout; a wrong password or database name is not here.
UNREACHABLE = (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
               asyncpg.TooManyConnectionsError)


def address(dsn: str) -> str:
    """Returns the host:port a DSN points at, for logs: never its user or password."""
    if "://" in dsn:
        netloc = urlsplit(dsn).netloc.rpartition("@")[2]
        return netloc if ":" in netloc.rpartition("]")[2] else f"{netloc or 'localhost'}:5432"
    fields = dict(part.split("=", 1) for part in dsn.split() if "=" in part)  # the key=value form
    return f"{fields.get('host', 'localhost')}:{fields.get('port', 5432)}"


async def create_pool(dsn: str, schema: str, *, size: int = 5) -> asyncpg.Pool:
    """Returns a pool whose connections see ``schema`` first; creates the schema if it is missing."""
    conn = await asyncpg.connect(dsn)
    try:
        # Checked first: with one role per service (``batchyard db roles``) the schema exists and the role owns
        # it but may not create schemas, and "create schema if not exists" needs that privilege even then.
        if not await conn.fetchval("select true from pg_namespace where nspname = $1", schema):
            await conn.execute(f'create schema if not exists "{schema}"')
    finally:
        await conn.close()
    return await asyncpg.create_pool(dsn, min_size=1, max_size=size, reset=_keep_session,
                                     server_settings={"search_path": f'"{schema}"', "application_name": schema})


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Returns a connection to the pool without asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL``): one more round trip per transaction, about 6 % of a busy connector's CPU, for
    session state our pools never keep (no LISTEN, no session SETs, no cursors outside a transaction; the one
    session-level advisory lock, migrations', is released by its holder). asyncpg still rolls back a transaction
    left open and drops listeners before this runs."""


def _migration_files(service_dir: Path | None) -> list[tuple[str, Path]]:
    """Returns (version, file) pairs: platform migrations first, then the service's own, each in name order."""
    files = [(f"platform:{p.stem}", p) for p in sorted(PLATFORM_MIGRATIONS.glob("*.sql"))]
    if service_dir is not None and (service_dir / "migrations").is_dir():
        files += [(f"service:{p.stem}", p) for p in sorted((service_dir / "migrations").glob("*.sql"))]
    return files


async def migrate(pool: asyncpg.Pool, schema: str, service_dir: Path | None) -> list[str]:
    """Applies pending migrations, each in its own transaction, under an advisory lock; returns those applied."""
    lock = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big", signed=True)
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("select pg_advisory_lock($1)", lock)
        try:
            await conn.execute("create table if not exists schema_migrations "
                               "(version text primary key, applied_at timestamptz not null default now())")
            done = {r["version"] for r in await conn.fetch("select version from schema_migrations")}
            for version, path in _migration_files(service_dir):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("insert into schema_migrations(version) values ($1)", version)
                applied.append(version)
        finally:
            await conn.execute("select pg_advisory_unlock($1)", lock)
    return applied


def columns(rows: Iterable[tuple], width: int = 0) -> list[list]:
    """Returns ``rows`` as one list per column: the arrays of one ``unnest`` statement (``width`` empty lists when
    there are no rows)."""
    return [list(column) for column in zip(*rows)] or [[] for _ in range(width)]
