"""Every CLI command ends in one ``error:`` line and a non-zero exit, never a Python traceback: bad files,
an unreachable Kafka, a database that is down (the servers needed here are deliberately absent)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).parents[3]
NOT_UTF8 = st.binary(min_size=1, max_size=300).map(lambda b: b"\xff" + b)  # 0xff never occurs in UTF-8
ANY_BYTES = st.one_of(NOT_UTF8, st.binary(max_size=300), st.text(max_size=200).map(str.encode))


def closed_port() -> int:
    """Returns a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(result, code: int) -> str:
    """Asserts the command failed cleanly: exit ``code``, no exception, stderr opening with ``error:``."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output, result.output
    return result.stderr


def one_error_line(result, code: int) -> str:
    """Asserts ``refused`` and that the whole of stderr is that one line."""
    lines = refused(result, code).splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", [
    pytest.param(["submit", "{path}", "--org", "acme", "--team", "nlp"], id="submit"),
    pytest.param(["queues", "apply", "{path}", "--dry-run"], id="queues-apply"),
    pytest.param(["replay", "run", "{path}", "--no-plots"], id="replay-run"),
])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=ANY_BYTES)
def test_any_file_content_is_refused_in_one_line(tmp_path, args, content):
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(app, [a.replace("{path}", str(path)) for a in args],
                                env={"BATCHYARD_SIGNING_KEY_FILE": str(REPO / "examples" / "signing-key.yaml"),
                                     "BATCHYARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"})
    refused(result, code=2)  # a config with several problems lists each on its own line


@pytest.mark.parametrize("args", [
    pytest.param(["submit", "{path}", "--org", "acme", "--team", "nlp"], id="submit"),
    pytest.param(["queues", "apply", "{path}", "--dry-run"], id="queues-apply"),
    pytest.param(["replay", "run", "{path}"], id="replay-run"),
])
def test_a_binary_file_says_it_is_not_text(tmp_path, args):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 4)
    result = CliRunner().invoke(app, [a.replace("{path}", str(path)) for a in args])
    assert "not UTF-8 text" in one_error_line(result, code=2)


@pytest.mark.parametrize("args", [
    pytest.param(["nodes", "list"], id="nodes-list"),
    pytest.param(["audit", "list"], id="audit-list"),
    pytest.param(["queues", "list"], id="queues-list"),
    pytest.param(["queues", "pending"], id="queues-pending"),
    pytest.param(["cost", "report"], id="cost-report"),
    pytest.param(["workloads", "list"], id="workloads-list"),
    pytest.param(["workloads", "describe", "w1"], id="workloads-describe"),
])
def test_a_database_that_is_down_is_one_line(args):
    result = CliRunner().invoke(app, args, env={
        "BATCHYARD_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{closed_port()}/batchyard"})
    assert "cannot reach the" in one_error_line(result, code=1)


def test_submit_with_kafka_unreachable_is_one_line_and_closes_its_producer():
    """A real process: what the user sees on stderr is exactly one line (no warning about an unclosed client)."""
    env = {**os.environ, "BATCHYARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}",
           "BATCHYARD_SIGNING_KEY_FILE": str(REPO / "examples" / "signing-key.yaml"), "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "cli.main", "submit", "examples/batch.yaml", "--org", "acme",
                           "--team", "vision"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: cannot reach Kafka"), \
        done.stderr


def test_an_unexpected_failure_is_one_line_too(monkeypatch):
    import cli.queues

    def broken(*_):
        raise RuntimeError("the quota engine\nfell over")
    monkeypatch.setattr(cli.queues, "_run", broken)
    line = one_error_line(CliRunner().invoke(app, ["queues", "list"]), code=1)
    assert line == "error: unexpected RuntimeError: the quota engine fell over (BATCHYARD_DEBUG=1 shows the traceback)"


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("batchyard ") and result.output.split()[1][0].isdigit()
