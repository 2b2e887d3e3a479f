"""``batchyard db roles``: one PostgreSQL role per service, each owning its own schema and nothing else.

    batchyard db roles                     # print the SQL (review it, or feed it to psql)
    batchyard db roles --apply             # run it against BATCHYARD_DATABASE_URL (as an admin)

Each service connects as ``<prefix><schema>`` (e.g. ``batchyard_admission``), which owns schema
``admission`` and has no privilege on any other service's schema, so a compromised or buggy service
cannot read or write another's tables. ``<prefix>auditor`` may only read admission's tables (for
``batchyard audit list``). Passwords come from environment variables named
``BATCHYARD_DB_PASSWORD_<SCHEMA>`` (e.g. BATCHYARD_DB_PASSWORD_ADMISSION); a role whose variable is
unset gets no password (use certificate or peer authentication, see docs/security.md).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from typing import Optional

import typer

from cli.common import CommandGroup
from cli.registry import SERVICES

NAME = "db"
app = CommandGroup(help="Database administration: per-service roles.", no_args_is_help=True)
AUDITED_SCHEMA = "admission"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@app.callback()
def _group() -> None:
    """Database administration: per-service roles."""


def service_schemas() -> tuple[str, ...]:
    """Returns the schema of every service (its name with '-' as '_')."""
    return tuple(name.replace("-", "_") for name in SERVICES)


def role_name(prefix: str, schema: str) -> str:
    return _ident(f"{prefix}{schema}")


def roles_sql(database: str, *, prefix: str = "batchyard_", schemas: Sequence[str] | None = None,
              passwords: Mapping[str, str] | None = None) -> list[str]:
    """Returns the idempotent statements that create the roles and hand each its schema."""
    schemas, passwords = tuple(schemas or service_schemas()), passwords or {}
    db = _quote(database)
    statements = [f"revoke all on database {db} from public", "revoke create on schema public from public"]
    for schema in schemas:
        role = role_name(prefix, schema)
        statements += [_create_role(role, passwords.get(schema)), f"grant connect on database {db} to {role}",
                       f"create schema if not exists {_ident(schema)}",
                       f"revoke all on schema {_ident(schema)} from public",
                       f"alter schema {_ident(schema)} owner to {role}", _reown_objects(schema, role)]
    auditor = role_name(prefix, "auditor")
    statements += [_create_role(auditor, passwords.get("auditor")), f"grant connect on database {db} to {auditor}"]
    if AUDITED_SCHEMA in schemas:
        owner = role_name(prefix, AUDITED_SCHEMA)
        statements += [f"grant usage on schema {AUDITED_SCHEMA} to {auditor}",
                       f"grant select on all tables in schema {AUDITED_SCHEMA} to {auditor}",
                       f"alter default privileges for role {owner} in schema {AUDITED_SCHEMA} "
                       f"grant select on tables to {auditor}"]
    return statements


def _create_role(role: str, password: str | None) -> str:
    secret = f" password {_literal(password)}" if password else ""
    return (f"do $$ begin if not exists (select from pg_roles where rolname = '{role}') then "
            f"create role {role} login nosuperuser nocreatedb nocreaterole noinherit; end if; end $$; "
            f"alter role {role} with login{secret}")


def _reown_objects(schema: str, role: str) -> str:
    """Returns a statement that hands the schema's existing tables and sequences to ``role``."""
    return (f"do $$ declare r record; begin "
            f"for r in select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            f"where n.nspname = '{schema}' and c.relkind in ('r', 'p', 'v', 'm') loop "
            f"execute format('alter table {schema}.%I owner to {role}', r.relname); end loop; end $$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")
    return name


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def passwords_from_env(schemas: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    found = {s: env.get(f"BATCHYARD_DB_PASSWORD_{s.upper()}") for s in (*schemas, "auditor")}
    return {s: p for s, p in found.items() if p}


async def apply(dsn: str, statements: Sequence[str]) -> None:
    """Runs the statements in one transaction."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for statement in statements:
                await conn.execute(statement)
    finally:
        await conn.close()


def database_of(dsn: str) -> str:
    from urllib.parse import urlparse

    return urlparse(dsn).path.lstrip("/") or "postgres"


@app.command()
def roles(apply_: bool = typer.Option(False, "--apply", help="Run the SQL (as an admin) instead of printing it."),
          prefix: str = typer.Option("batchyard_", help="Role name prefix."),
          database_url: Optional[str] = typer.Option(None, help="Admin DSN (default: BATCHYARD_DATABASE_URL)."),
          ) -> None:
    """Create one role per service owning its schema, and a read-only auditor role."""
    from libs.platform.settings import Settings

    dsn = database_url or Settings().database_url
    statements = roles_sql(database_of(dsn), prefix=prefix, passwords=passwords_from_env(service_schemas()))
    if not apply_:
        for statement in statements:
            typer.echo(statement + ";")
        return
    asyncio.run(apply(dsn, statements))
    typer.echo(f"roles applied: {', '.join(role_name(prefix, s) for s in (*service_schemas(), 'auditor'))}")


if __name__ == "__main__":
    app()
