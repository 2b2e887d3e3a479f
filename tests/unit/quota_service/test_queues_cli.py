"""``batchyard queues apply`` validates the whole file before touching the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.queues import app

DEMO = Path(__file__).parents[3] / "deploy" / "quota" / "demo.yaml"


@pytest.mark.parametrize("edit, words", [
    pytest.param(("clusterQueue: acme-nlp", "clusterQueue: nope"), "'nope' is not a ClusterQueue", id="missing-cq"),
    pytest.param(("nominalQuota: 64}", "nominalQuota: lots}"), "lots", id="bad-quantity"),
    pytest.param(("kind: Cohort", "kind: Cohort"), None, id="unchanged-is-valid"),
])
def test_apply_dry_run_reports_every_problem_or_accepts(tmp_path, edit, words):
    path = tmp_path / "quota.yaml"
    path.write_text(DEMO.read_text().replace(*edit))
    result = CliRunner().invoke(app, ["apply", str(path), "--dry-run"])
    if words is None:
        assert result.exit_code == 0 and "valid" in result.output
    else:
        assert result.exit_code == 2 and "nothing applied" in result.output and words in result.output


def test_apply_of_an_unreadable_file_fails_cleanly(tmp_path):
    result = CliRunner().invoke(app, ["apply", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "cannot read" in result.output
