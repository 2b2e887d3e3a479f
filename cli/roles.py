"""``batchyard db roles``: one PostgreSQL role per service, each owning its own schema and nothing else.

    batchyard db roles                     # print the SQL (review it, or feed it to psql)
    batchyard db roles --apply             # run it against BATCHYARD_DATABASE_URL (as an admin)

Each service connects as ``<prefix><schema>`` (e.g. ``batchyard_admission``), which owns schema
``admission`` and has no privilege on any other service's schema, so a compromised or buggy service
cannot read or write another's tables. ``<prefix>auditor`` may only read admission's tables (for
``batchyard audit list``). Passwords come from environment variables named
``BATCHYARD_DB_PASSWORD_<SCHEMA>`` (e.g. BATCHYARD_DB_PASSWORD_ADMISSION); a role whose variable is
unset gets no password (use certificate or peer authentication, see docs/security.md).

Read paths are scoped by row-level security (the services' ``*_read_scope.sql`` migrations): a row of a read
model is visible to a role that may use the scope role of its tenant. ``--tenant acme/vision`` creates
``batchyard_team__acme__vision``, ``--tenant acme`` the org admins' ``batchyard_org__acme``; grant them to
people's login roles (``grant batchyard_team__acme__vision to alice``). ``<prefix>ops`` (queues, nodes),
``<prefix>finance`` (costs) and ``<prefix>auditor`` (the audit log) read every tenant's rows of their own
tables; ``<prefix>reader`` (the CLI's read commands behind a trusted front, BATCHYARD_TOKEN) sees nothing
until it sets the role a verified token names.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from typing import Optional

import typer

from cli.common import CommandGroup
from cli.scopes import scope_role
from cli.registry import SERVICES

NAME = "db"
app = CommandGroup(help="Database administration: per-service roles.", no_args_is_help=True)
AUDITED_SCHEMA = "admission"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
READ_ALL = "batchyard_read_all"  # the scope role of every tenant's rows (the migrations name it)
# The read models tenants may query (row-level security picks their rows), and who else reads which schema.
TENANT_READS = {"quota": ("workloads", "pending_positions"), "cost_reporting": ("ledger", "workload_events"),
                "admission": ("audit_log",)}
STAFF_READS = {"ops": ("quota", "node_repair"), "finance": ("cost_reporting",)}


@app.callback()
def _group() -> None:
    """Database administration: per-service roles."""


def service_schemas() -> tuple[str, ...]:
    """Returns the schema of every service (its name with '-' as '_')."""
    return tuple(name.replace("-", "_") for name in SERVICES)


def role_name(prefix: str, schema: str) -> str:
    return _ident(f"{prefix}{schema}")


def roles_sql(database: str, *, prefix: str = "batchyard_", schemas: Sequence[str] | None = None,
              passwords: Mapping[str, str] | None = None, tenants: Sequence[str] = ()) -> list[str]:
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
    statements += [_create_role(auditor, passwords.get("auditor"), inherit=True),  # inherits batchyard_read_all
                   f"grant connect on database {db} to {auditor}"]
    if AUDITED_SCHEMA in schemas:
        owner = role_name(prefix, AUDITED_SCHEMA)
        statements += [f"grant usage on schema {AUDITED_SCHEMA} to {auditor}",
                       f"grant select on all tables in schema {AUDITED_SCHEMA} to {auditor}",
                       f"alter default privileges for role {owner} in schema {AUDITED_SCHEMA} "
                       f"grant select on tables to {auditor}"]
    return statements + read_scope_sql(db, prefix=prefix, schemas=schemas, passwords=passwords, tenants=tenants)


def read_scope_sql(db: str, *, prefix: str, schemas: Sequence[str], passwords: Mapping[str, str],
                   tenants: Sequence[str]) -> list[str]:
    """Returns the statements for the scoped readers: tenant scope roles, ops, finance and the token reader."""
    scopes = [scope_role(t) for t in dict.fromkeys(tenants)]
    statements = [_create_group(READ_ALL)]
    for scope in scopes:
        statements += [_create_group(scope), *_grant_reads(scope, schemas, TENANT_READS)]
    for staff, staff_schemas in STAFF_READS.items():
        role = role_name(prefix, staff)
        statements += [_create_role(role, passwords.get(staff), inherit=True), f"grant connect on database {db} to {role}",
                       f"grant {READ_ALL} to {role}"]
        for schema in (s for s in staff_schemas if s in schemas):
            owner = role_name(prefix, schema)
            statements += [f"grant usage on schema {schema} to {role}",
                           f"grant select on all tables in schema {schema} to {role}",
                           f"alter default privileges for role {owner} in schema {schema} grant select on tables "
                           f"to {role}"]
    statements.append(f"grant {READ_ALL} to {role_name(prefix, 'auditor')}")  # the audit log is scoped too
    reader = role_name(prefix, "reader")
    statements += [_create_role(reader, passwords.get("reader")), f"grant connect on database {db} to {reader}",
                   *(f"grant usage on schema {s} to {reader}" for s in TENANT_READS if s in schemas),
                   *(f"grant {_group_ident(scope)} to {reader}" for scope in scopes)]  # noinherit: after SET ROLE
    return statements


def _create_group(role: str) -> str:
    return (f"do $$ begin if not exists (select from pg_roles where rolname = '{role}') then "
            f"create role {_group_ident(role)} nologin; end if; end $$")


def _group_ident(role: str) -> str:
    return '"' + role + '"'  # scope roles may hold '-' (DNS labels): always quoted


def _grant_reads(role: str, schemas: Sequence[str], reads: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Returns grants of the read models that exist now (run `db roles --apply` again after a service's first
    start creates them)."""
    out = []
    for schema, tables in reads.items():
        if schema not in schemas:
            continue
        out.append(f"grant usage on schema {schema} to {_group_ident(role)}")
        out += [f"do $$ begin if to_regclass('{schema}.{t}') is not null then "
                f"grant select on {schema}.{t} to {_group_ident(role)}; end if; end $$" for t in tables]
    return out


def _create_role(role: str, password: str | None, *, inherit: bool = False) -> str:
    secret = f" password {_literal(password)}" if password else ""
    inherits = "inherit" if inherit else "noinherit"
    return (f"do $$ begin if not exists (select from pg_roles where rolname = '{role}') then "
            f"create role {role} login nosuperuser nocreatedb nocreaterole {inherits}; end if; end $$; "
            f"alter role {role} with login {inherits}{secret}")


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
    found = {s: env.get(f"BATCHYARD_DB_PASSWORD_{s.upper()}") for s in (*schemas, "auditor", *STAFF_READS, "reader")}
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
          tenant: list[str] = typer.Option([], "--tenant", help="org/team (a team's scope role) or org (its org "
                                           "admins'); repeat. Grant them to people's login roles."),
          ) -> None:
    """Create one role per service owning its schema, the scoped readers (tenants, ops, finance, auditor, the
    token reader), and the grants of the read models."""
    from libs.platform.settings import Settings

    dsn = database_url or Settings().database_url
    try:
        statements = roles_sql(database_of(dsn), prefix=prefix, passwords=passwords_from_env(service_schemas()),
                               tenants=tenant)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if not apply_:
        for statement in statements:
            typer.echo(statement + ";")
        return
    asyncio.run(apply(dsn, statements))
    names = [role_name(prefix, s) for s in (*service_schemas(), "auditor", *STAFF_READS, "reader")]
    typer.echo(f"roles applied: {', '.join(names + [scope_role(t) for t in tenant])}; run it again after a "
               "service's first start so its read models are granted")


if __name__ == "__main__":
    app()
