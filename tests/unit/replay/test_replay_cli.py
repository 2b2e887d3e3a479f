"""`batchyard replay` end to end on the shipped job YAML sample (fast)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.replay import app
from libs.replay.trace import repo_root

CONFIG = str(repo_root() / "deploy" / "replay" / "sample-jobs.yaml")


def test_run_writes_records_summary_and_plots(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", CONFIG, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skipped 1 invalid_job" in " ".join(result.output.split())  # rich wraps at the terminal's width
    rows = (tmp_path / "workloads.csv").read_text().splitlines()
    assert len(rows) == 1 + 6
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["overall"]["finished"] == 6
    assert {p.name for p in tmp_path.glob("*.png")} == {"allocation.png", "fragmentation.png", "fairness.png"}


def test_compare_writes_differences(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compare", "--a", CONFIG, "--b", CONFIG, "--out", str(tmp_path), "--no-plots"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "compare.json").read_text())
    assert all(d["verdict"] == "same" for d in report["diffs"])


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: lottery\n")
    result = CliRunner().invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "invalid replay config" in result.output
