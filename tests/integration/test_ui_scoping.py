"""The web view reads as the CLI reads: through the token reader's login, as the role a verified token names, so a
team's view shows only its own pending workloads (at their true positions) and not the nodes, which are ops'."""

from __future__ import annotations

import pytest

from cli.reads import token_scope
from cli.ui.panels import read_panels
from cli.ui.params import ViewParams
from cli.ui.reader import Reader
from services.admission.signing import demo_signer
from tests.integration.test_read_scoping import PREFIX, as_role, scoped_db  # noqa: F401 - the fixture by name

pytestmark = pytest.mark.integration


async def test_a_teams_view_shows_its_own_rows_and_says_what_it_may_not_read(scoped_db):  # noqa: F811
    scope = token_scope(demo_signer("alice@acme").token("acme", "vision"))
    reader = Reader(as_role(scoped_db, f"{PREFIX}reader"), scope)
    try:
        panels = await read_panels(reader, ViewParams(days=7))
    finally:
        await reader.close()
    assert [(p["workload_id"], p["position"]) for p in panels["queues"]["pending"]] == [("vision-1", 3)]
    assert panels["nodes"]["error"]["reason"] == "permission_denied"
    assert {(r["org"], r["team"]) for r in panels["cost"]["rows"]} == {("acme", "vision")}


async def test_the_admins_login_without_a_token_sees_every_tenant(scoped_db):  # noqa: F811
    reader = Reader(scoped_db, None)
    try:
        panels = await read_panels(reader, ViewParams(days=7))
    finally:
        await reader.close()
    assert [p["workload_id"] for p in panels["queues"]["pending"]] == ["nlp-1", "globex-1", "vision-1"]
    assert {(r["org"], r["team"]) for r in panels["cost"]["rows"]} == {
        ("acme", "vision"), ("acme", "nlp"), ("globex", "research"), ("(idle)", "(idle)")}
