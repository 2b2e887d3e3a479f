"""Who may suspend or resume which workload (services/admission/lifecycle.py): one reason per refusal, never an
exception; malformed requests are dead-lettered or refused."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events import DecodeError, Tenant, WorkloadResumeRequested, WorkloadSuspendRequested, decode
from services.admission.cancel import CANCELLED_BY
from services.admission.keyring import load_verifier_keyring
from services.admission.lifecycle import HeldState, RequestReason, decide_request, request_binding
from services.admission.signing import DEMO_KEYRING, demo_signer
from tests.unit.admission_service.test_admission_cancel import _json

KEYRING = load_verifier_keyring(DEMO_KEYRING).keyring
SIGN = demo_signer("ci@acme")
NOW = datetime.now(timezone.utc)
VISION, NLP = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp")
RUNNING, SUSPENDED = HeldState("acme", "vision", None, False), HeldState("acme", "vision", None, True)


def suspend(workload_id: str | None = "w-1", tenant: Tenant | None = VISION, token: str | None = "sign",
            signer_tenant: Tenant = VISION, kind=WorkloadSuspendRequested):
    if token == "sign":
        token = SIGN.token(signer_tenant.org, signer_tenant.team)
    return kind(workload_id=workload_id, tenant=tenant, token=token, reason="pause for the weekend")


def resume(**kwargs):
    return suspend(kind=WorkloadResumeRequested, **kwargs)


R = RequestReason
CASES = {
    "suspend own running workload": (suspend(), RUNNING, None),
    "resume own suspended workload": (resume(), SUSPENDED, None),
    "suspend without a token": (suspend(token=None), RUNNING, "token_missing"),
    "resume with a garbage token": (resume(token="a.b.c"), SUSPENDED, "token_malformed"),
    "suspend without a workload id": (suspend(workload_id=None), RUNNING, R.INVALID.value),
    "resume without a tenant": (resume(tenant=None), SUSPENDED, R.INVALID.value),
    "suspend with another team's token": (suspend(tenant=NLP), HeldState("acme", "nlp", None, False),
                                          R.TENANT_MISMATCH.value),
    "suspend another team's workload": (suspend(tenant=NLP, signer_tenant=NLP), RUNNING, R.TENANT_MISMATCH.value),
    "resume another team's workload": (resume(tenant=NLP, signer_tenant=NLP), SUSPENDED, R.TENANT_MISMATCH.value),
    "suspend a workload never admitted": (suspend(), None, R.UNKNOWN.value),
    "suspend a suspended workload": (suspend(), SUSPENDED, R.ALREADY_SUSPENDED.value),
    "resume a workload not suspended": (resume(), RUNNING, R.NOT_SUSPENDED.value),
    "suspend a succeeded workload": (suspend(), HeldState("acme", "vision", "WorkloadSucceeded", False),
                                     R.FINISHED.value),
    "suspend a cancelled workload": (suspend(), HeldState("acme", "vision", CANCELLED_BY, False), R.FINISHED.value),
    "resume a suspended workload cancelled since": (resume(), HeldState("acme", "vision", CANCELLED_BY, True),
                                                    R.FINISHED.value),
    "resume a failed workload": (resume(), HeldState("acme", "vision", "WorkloadFailed", True), R.FINISHED.value),
}


@pytest.mark.parametrize("event, held, code", CASES.values(), ids=CASES.keys())
def test_a_suspend_or_resume_request_is_decided_with_one_reason(event, held, code):
    decision = decide_request(event, KEYRING, NOW, held)
    assert decision.code == code
    assert decision.cancelled is (code is None)  # CancelDecision.cancelled: the request is carried out
    if code is not None:
        assert decision.message
    if not (code or "").startswith("token_"):
        assert decision.identity.subject == "ci@acme"


def test_the_token_binding_names_the_request_and_the_workload():
    assert request_binding(suspend()) == request_binding(suspend()) != request_binding(resume())
    assert request_binding(suspend()) != request_binding(suspend(workload_id="w-2"))


FIELDS = ("workload_id", "tenant", "token", "reason", "event_id", "occurred_at", "schema_version")
GOOD_TOKEN = SIGN.token("acme", "vision")
HELD = [None, RUNNING, SUSPENDED, HeldState("acme", "vision", CANCELLED_BY, False)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.dictionaries(st.sampled_from(FIELDS), _json(), max_size=len(FIELDS)),
       kind=st.sampled_from(["WorkloadSuspendRequested", "WorkloadResumeRequested"]),
       keep_token=st.booleans(), held=st.sampled_from(HELD))
def test_a_malformed_request_is_dead_lettered_or_refused_with_a_reason_never_a_crash(garbage, kind, keep_token,
                                                                                     held):
    body = {"type": kind, "workload_id": "w-1", "tenant": {"org": "acme", "team": "vision"},
            **({"token": GOOD_TOKEN} if keep_token else {}), **garbage}
    try:
        event = decode(json.dumps(body, default=str).encode())
    except DecodeError as exc:
        assert exc.reason in ("invalid", "unsupported-version", "not-json")
        return
    decision = decide_request(event, KEYRING, NOW, held)
    assert decision.cancelled or (decision.code and decision.message)
    if decision.cancelled:  # only a genuine token of the workload's own team, on a workload in the right state
        assert event.tenant == VISION and event.token == GOOD_TOKEN
        assert held == (RUNNING if kind == "WorkloadSuspendRequested" else SUSPENDED)
