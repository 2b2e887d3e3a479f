"""`batchyard queues apply` on a real PostgreSQL: a config with a cohort cycle, a flavor referenced
but not defined, or a lendingLimit above nominalQuota is refused with the field path and the
reason, and the config in force (its version and its text) is untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from cli.main import app
from libs.platform import store

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]
GOOD = (REPO / "deploy" / "quota" / "demo.yaml").read_text()
CYCLE = """---
apiVersion: kueue.x-k8s.io/v1beta1
kind: Cohort
metadata: {name: acme}
spec: {parentName: globex}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: Cohort
metadata: {name: globex}
spec: {parentName: acme}
"""
BAD = {
    "cohort cycle": (GOOD + CYCLE,
                     "Cohort acme: spec.parentName: cohort cycle acme → globex → acme"),
    "undefined flavor": (GOOD.replace("- name: cpu-spot\n", "- name: cpu-spott\n", 1),
                         "ClusterQueue acme-nlp: spec.resourceGroups[0].flavors[2].name: flavor 'cpu-spott' is "
                         "referenced but not defined"),
    "lending above nominal": (GOOD.replace("{name: cpu, nominalQuota: 640}",
                                           "{name: cpu, nominalQuota: 640, lendingLimit: 700}", 1),
                              "ClusterQueue acme-vision: spec.resourceGroups[0].flavors[0].resources[0].lendingLimit: "
                              "700 exceeds nominalQuota 640"),
}


async def cli(database_url: str, *args: str):
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"BATCHYARD_DATABASE_URL": database_url})


async def config_in_force(database_url: str) -> tuple[int, str]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("select version, yaml from quota.quota_configs order by version desc limit 1")
    finally:
        await conn.close()
    return row["version"], row["yaml"]


async def test_bad_configs_are_refused_and_change_nothing(database_url, tmp_path):
    pool = await store.create_pool(database_url, "quota", size=1)
    try:
        await store.migrate(pool, "quota", REPO / "services" / "quota")
    finally:
        await pool.close()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    applied = await cli(database_url, "queues", "apply", str(good))
    assert applied.exit_code == 0 and "version 1" in applied.output, applied.output
    for name, (text, problem) in BAD.items():
        bad = tmp_path / f"{name.replace(' ', '-')}.yaml"
        bad.write_text(text)
        refused = await cli(database_url, "queues", "apply", str(bad))
        assert refused.exit_code == 2, (name, refused.output)
        assert "nothing applied" in refused.output and problem in refused.output, (name, refused.output)
        assert await config_in_force(database_url) == (1, GOOD), name
