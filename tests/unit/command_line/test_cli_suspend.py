"""``batchyard suspend`` and ``batchyard resume``: sign requests admission accepts; every failure is one ``error:``
line, never a traceback (no Kafka runs here: an unreachable broker is one of the failures)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.lifecycle import signed_request
from cli.main import app
from cli.submit import signer_from_env
from services.admission.keyring import load_verifier_keyring
from services.admission.lifecycle import HeldState, decide_request
from services.admission.signing import DEMO_KEYRING
from tests.unit.command_line.test_cli_failures import closed_port, one_error_line

REPO = Path(__file__).parents[3]
KEYS = str(REPO / "examples" / "signing-key.yaml")


@pytest.mark.parametrize("verb, suspended", [("suspend", False), ("resume", True)])
def test_the_request_is_signed_so_admission_carries_it_out(verb, suspended):
    signer = signer_from_env(org="acme", team="vision", key_file=KEYS, subject="me@laptop")
    event = signed_request(verb, "train-1a2b3c4d", org="acme", team="vision", signer=signer, reason="weekend")
    assert (event.type, event.workload_id, str(event.tenant), event.reason, event.producer) == (
        f"Workload{verb.capitalize()}Requested", "train-1a2b3c4d", "acme/vision", "weekend", "cli")
    keyring = load_verifier_keyring(DEMO_KEYRING).keyring
    decision = decide_request(event, keyring, datetime.now(timezone.utc),
                              HeldState("acme", "vision", None, suspended))
    assert decision.cancelled and decision.identity.subject == "me@laptop"


@pytest.mark.parametrize("verb", ["suspend", "resume"])
@pytest.mark.parametrize("args, env, words", [
    pytest.param(["w-1", "--org", "acme", "--team", "vision"], {}, "no signing key", id="no-key"),
    pytest.param(["w-1", "--org", "acme", "--team", "Not A Team"], {"BATCHYARD_SIGNING_KEY_FILE": KEYS},
                 "request: team:", id="bad-team"),
    pytest.param(["w-1", "--org", "acme", "--team", "vision", "--reason", "x" * 501],
                 {"BATCHYARD_SIGNING_KEY_FILE": KEYS}, "reason", id="reason-too-long"),
    pytest.param(["w 1\n", "--org", "acme", "--team", "vision"], {"BATCHYARD_SIGNING_KEY_FILE": KEYS},
                 "not a workload id", id="bad-id"),
    pytest.param(["w-1", "--org", "initech", "--team", "ops"], {"BATCHYARD_SIGNING_KEY_FILE": KEYS},
                 "initech/ops", id="no-key-for-the-team"),
])
def test_bad_input_is_refused_in_one_line(verb, args, env, words):
    env = {"BATCHYARD_SIGNING_KEY_FILE": "", "BATCHYARD_SIGNING_KEY": "",
           "BATCHYARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}", **env}
    line = one_error_line(CliRunner().invoke(app, [verb, *args], env=env), code=2)
    assert words in line, line


@pytest.mark.parametrize("verb", ["suspend", "resume"])
def test_kafka_unreachable_is_one_line(verb):
    env = {"BATCHYARD_SIGNING_KEY_FILE": KEYS, "BATCHYARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"}
    line = one_error_line(CliRunner().invoke(app, [verb, "w-1", "--org", "acme", "--team", "vision"], env=env),
                          code=1)
    assert line.startswith("error: cannot reach Kafka"), line


@pytest.mark.parametrize("action, outcome, reason, shown", [
    ("suspend", "accepted", None, "SUSPENDED"), ("resume", "accepted", None, "RESUMED"),
    ("suspend", "rejected", "workload_already_suspended", "SUSPEND REFUSED workload_already_suspended"),
    ("resume", "rejected", "workload_not_suspended", "RESUME REFUSED workload_not_suspended")])
def test_the_audit_list_shows_suspend_and_resume_decisions_as_such(action, outcome, reason, shown):
    from cli.audit import format_row
    row = {"action": action, "outcome": outcome, "reason": reason, "subject": "ci@acme", "org": "acme",
           "team": "vision", "workload_id": "w-1", "key_id": "k", "decided_at": datetime(2026, 12, 5, 8, 0),
           "message": "why", "rule": None}
    assert f"acme/vision w-1 by ci@acme (key k): {shown}" in format_row(row)
