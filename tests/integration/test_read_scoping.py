"""Read paths scoped to the caller, enforced by PostgreSQL row-level security on the read models: connecting as
each role, a team sees only its own workloads, queue positions, costs and audit rows; an org admin its org; ops
and finance every tenant of their own tables; the token reader nothing until a verified token sets its role."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from cli.roles import apply, database_of, role_name, roles_sql, scope_role
from libs.platform import store
from services.admission.signing import demo_signer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PREFIX = "rls_"
TENANTS = ("acme/vision", "acme/nlp", "globex/research")
PEOPLE = {"rls_alice": "acme/vision", "rls_olga": "acme"}  # a vision engineer, acme's org admin
# (workload, org, team, priority): one cluster queue; vision's workload waits behind nlp's and globex's
WORKLOADS = [("nlp-1", "acme", "nlp", 10), ("globex-1", "globex", "research", 5), ("vision-1", "acme", "vision", 1)]


def as_role(dsn: str, role: str) -> str:
    url = urlsplit(dsn)
    return urlunsplit(url._replace(netloc=f"{role}@{url.hostname}:{url.port}"))


@pytest.fixture
async def scoped_db(database_url: str) -> str:
    """A database with the read models filled for three teams, and every role of `batchyard db roles`."""
    for schema in ("quota", "cost_reporting", "admission", "node_repair"):
        pool = await store.create_pool(database_url, schema, size=1)
        try:
            await store.migrate(pool, schema, REPO / "services" / schema)
        finally:
            await pool.close()
    conn = await asyncpg.connect(database_url)
    try:
        for i, (wid, org, team, priority) in enumerate(WORKLOADS):
            await conn.execute(
                "insert into quota.workloads(workload_id, org, team, local_queue, cluster_queue, priority, spec, "
                "requests, state, created_at, pending_reason, pending_message) values ($1, $2, $3, 'default', 'cq', "
                "$4, '{}', '{}', 'pending', $5, 'Quota', 'waits')", wid, org, team, priority, float(i))
            await conn.execute(
                "insert into cost_reporting.ledger(row_id, node_id, hour, party, workload_id, amount_micros, kind, "
                "source_event, cluster, pool, instance_type, gpu_model, org, team, queue, price_version) values "
                "($1, 'n1', '2026-11-24T10:00:00Z', $1, $1, 1000000, 'accrual', 'e', 'c', 'p', 'i', 'g', $2, $3, "
                "'default', 'v1')", wid, org, team)
            await conn.execute("insert into admission.audit_log(event_id, decided_at, outcome, message, workload_id, "
                               "org, team) values (gen_random_uuid(), now(), 'accepted', 'ok', $1, $2, $3)",
                               wid, org, team)
        await conn.execute("insert into cost_reporting.ledger(row_id, node_id, hour, party, amount_micros, kind, "
                           "source_event, cluster, pool, instance_type, gpu_model, org, team, queue, price_version) "
                           "values ('idle', 'n1', '2026-11-24T10:00:00Z', '(idle)', 5, 'accrual', 'e', 'c', 'p', 'i', "
                           "'g', '', '', '', 'v1')")
    finally:
        await conn.close()
    statements = roles_sql(database_of(database_url), prefix=PREFIX, tenants=(*TENANTS, "acme"))
    for person, tenant in PEOPLE.items():
        statements += [f"do $$ begin if not exists (select from pg_roles where rolname = '{person}') then "
                       f"create role {person} login; end if; end $$",
                       f'grant connect on database "{database_of(database_url)}" to {person}',
                       f'grant "{scope_role(tenant)}" to {person}']
    await apply(database_url, statements)
    return database_url


async def rows(dsn: str, role: str, sql: str, *, set_role: str | None = None) -> list[tuple]:
    conn = await asyncpg.connect(as_role(dsn, role))
    try:
        if set_role:
            await conn.execute(f'set role "{set_role}"')
        return sorted(tuple(r) for r in await conn.fetch(sql))
    finally:
        await conn.close()


TEAMS = "select org, team from {} where org <> ''"


@pytest.mark.parametrize(("role", "expected"), [
    pytest.param("rls_alice", {("acme", "vision")}, id="team"),
    pytest.param("rls_olga", {("acme", "vision"), ("acme", "nlp")}, id="org-admin"),
    pytest.param(f"{PREFIX}ops", {("acme", "vision"), ("acme", "nlp"), ("globex", "research")}, id="ops"),
])
async def test_each_role_sees_only_its_tenants_workloads(scoped_db, role, expected):
    assert {r for r in await rows(scoped_db, role, TEAMS.format("quota.workloads"))} == expected


async def test_a_team_sees_its_workloads_true_position_behind_workloads_it_cannot_see(scoped_db):
    assert await rows(scoped_db, "rls_alice", "select workload_id, pos from quota.pending_positions") == [
        ("vision-1", 3)]


async def test_costs_and_audit_rows_are_scoped_alike(scoped_db):
    assert await rows(scoped_db, "rls_alice", TEAMS.format("cost_reporting.ledger")) == [("acme", "vision")]
    assert await rows(scoped_db, "rls_olga", TEAMS.format("admission.audit_log")) == [("acme", "nlp"),
                                                                                      ("acme", "vision")]
    finance = await rows(scoped_db, f"{PREFIX}finance", "select party from cost_reporting.ledger")
    assert len(finance) == 4  # every team, and the idle cost no tenant sees
    assert len(await rows(scoped_db, f"{PREFIX}auditor", "select 1 from admission.audit_log")) == 3


@pytest.mark.parametrize(("role", "table"), [
    pytest.param("rls_alice", "node_repair.repair_nodes", id="team-reads-nodes"),
    pytest.param("rls_alice", "quota.quota_configs", id="team-reads-quota-internals"),
    pytest.param(f"{PREFIX}finance", "quota.workloads", id="finance-reads-queues"),
    pytest.param(f"{PREFIX}finance", "admission.audit_log", id="finance-reads-the-audit-log"),
    pytest.param(f"{PREFIX}ops", "cost_reporting.ledger", id="ops-reads-costs"),
])
async def test_a_role_cannot_read_another_domains_tables(scoped_db, role, table):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await rows(scoped_db, role, f"select 1 from {table}")


async def test_the_token_reader_may_take_only_the_roles_granted_to_it(scoped_db):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # by itself it may read nothing at all
        await rows(scoped_db, f"{PREFIX}reader", TEAMS.format("quota.workloads"))
    vision = scope_role("acme/vision")
    assert await rows(scoped_db, f"{PREFIX}reader", TEAMS.format("quota.workloads"), set_role=vision) == [
        ("acme", "vision")]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # read_all is not the reader's to take
        await rows(scoped_db, f"{PREFIX}reader", TEAMS.format("quota.workloads"), set_role="batchyard_read_all")


def run_cli(dsn: str, token: str | None, *args: str):
    env = {"BATCHYARD_DATABASE_URL": as_role(dsn, f"{PREFIX}reader"), "BATCHYARD_TOKEN": token or ""}
    return CliRunner().invoke(cli, list(args), env=env)


def test_the_cli_reads_as_the_team_its_signed_token_names(scoped_db):
    token = demo_signer("alice@acme").token("acme", "vision")
    pending = run_cli(scoped_db, token, "queues", "pending")
    assert pending.exit_code == 0, pending.output
    assert "cq#3" in pending.output and "vision-1" in pending.output
    assert "nlp-1" not in pending.output and "globex-1" not in pending.output
    audit = run_cli(scoped_db, token, "audit", "list", "--json")
    assert [json.loads(line)["workload_id"] for line in audit.output.splitlines()] == ["vision-1"]
    assert run_cli(scoped_db, token, "queues", "why", "nlp-1").exit_code == 1  # another team's: not seen
    costs = run_cli(scoped_db, token, "cost", "report", "--by", "team", "--day", "2026-11-24")
    assert costs.exit_code == 0 and [line.split()[0] for line in costs.output.splitlines()[1:]] == ["vision", "total"]
    nodes = run_cli(scoped_db, token, "nodes", "list")
    assert nodes.exit_code == 1 and "permission denied" in nodes.output  # nodes are ops' only
    org_token = demo_signer("ci@acme").token("acme", "platform")  # the acme org key: acme's org admins' scope
    org_view = run_cli(scoped_db, org_token, "queues", "pending")
    assert "nlp-1" in org_view.output and "vision-1" in org_view.output and "globex-1" not in org_view.output


@pytest.mark.parametrize(("token", "reason"), [
    pytest.param("not-a-token", "token_malformed", id="garbage"),
    pytest.param(lambda: demo_signer().token("acme", "vision")[:-3] + "AAA", "token_bad_signature", id="forged"),
])
def test_the_cli_refuses_a_bad_token_with_its_reason(scoped_db, token, reason):
    result = run_cli(scoped_db, token() if callable(token) else token, "queues", "pending")
    assert result.exit_code == 2 and reason in result.output


def test_without_a_token_the_reader_is_refused(scoped_db):
    result = run_cli(scoped_db, None, "queues", "pending")
    assert result.exit_code == 1 and "permission denied" in result.output
