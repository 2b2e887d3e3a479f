"""``batchyard priority WORKLOAD --class NAME``: signs a request admission carries out; every failure is one
``error:`` line, never a traceback (no Kafka runs here: an unreachable broker is one of the failures)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from cli.lifecycle import signed_request
from cli.main import app
from cli.submit import signer_from_env
from services.admission.keyring import load_verifier_keyring
from services.admission.lifecycle import HeldState, decide_request
from services.admission.signing import DEMO_KEYRING
from tests.unit.command_line.test_cli_failures import closed_port, one_error_line
from tests.unit.command_line.test_cli_suspend import KEYS

OK = ["w-1", "--org", "acme", "--team", "vision"]


def test_the_request_is_signed_so_admission_carries_it_out():
    signer = signer_from_env(org="acme", team="vision", key_file=KEYS, subject="me@laptop")
    event = signed_request("priority", "train-1a2b3c4d", org="acme", team="vision", signer=signer,
                           reason="deadline", priority_class="batch-high")
    assert (event.type, event.workload_id, str(event.tenant), event.priority_class, event.reason) == (
        "WorkloadPriorityChangeRequested", "train-1a2b3c4d", "acme/vision", "batch-high", "deadline")
    decision = decide_request(event, load_verifier_keyring(DEMO_KEYRING).keyring, datetime.now(timezone.utc),
                              HeldState("acme", "vision", None, False, "batch-normal"), ("batch-high",))
    assert decision.cancelled and decision.identity.subject == "me@laptop"


@pytest.mark.parametrize("args, env, code, words", [
    pytest.param([*OK, "--class", "Not A Class"], {"BATCHYARD_SIGNING_KEY_FILE": KEYS}, 2, "priority_class",
                 id="bad-class"),
    pytest.param([*OK, "--class", "batch-high"], {}, 2, "no signing key", id="no-key"),
    pytest.param(["w 1\n", "--org", "acme", "--team", "vision", "--class", "batch-high"],
                 {"BATCHYARD_SIGNING_KEY_FILE": KEYS}, 2, "not a workload id", id="bad-id"),
    pytest.param([*OK, "--class", "batch-high"], {"BATCHYARD_SIGNING_KEY_FILE": KEYS}, 1, "cannot reach Kafka",
                 id="kafka-unreachable"),
])
def test_bad_input_is_refused_in_one_line(args, env, code, words):
    env = {"BATCHYARD_SIGNING_KEY_FILE": "", "BATCHYARD_SIGNING_KEY": "",
           "BATCHYARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}", **env}
    line = one_error_line(CliRunner().invoke(app, ["priority", *args], env=env), code=code)
    assert words in line, line
