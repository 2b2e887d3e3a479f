"""Who may change which workload's priority class (services/admission/lifecycle.py): one reason per refusal, never
an exception; malformed requests are dead-lettered or refused."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events import DecodeError, Tenant, WorkloadPriorityChangeRequested, decode
from services.admission.cancel import CANCELLED_BY
from services.admission.keyring import load_verifier_keyring
from services.admission.lifecycle import HeldState, RequestReason, decide_request, request_binding, verb_of
from services.admission.signing import DEMO_KEYRING, demo_signer
from tests.unit.admission_service.test_admission_cancel import _json
from tests.unit.admission_service.test_admission_suspend import suspend

KEYRING = load_verifier_keyring(DEMO_KEYRING).keyring
SIGN = demo_signer("ci@acme")
NOW = datetime.now(timezone.utc)
VISION, NLP = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp")
ALLOWED = ("batch-low", "batch-normal", "batch-high")
NORMAL = HeldState("acme", "vision", None, False, "batch-normal")


def change(priority_class: str = "batch-high", workload_id: str | None = "w-1", tenant: Tenant | None = VISION,
           token: str | None = "sign", signer_tenant: Tenant = VISION):
    if token == "sign":
        token = SIGN.token(signer_tenant.org, signer_tenant.team)
    return WorkloadPriorityChangeRequested(workload_id=workload_id, tenant=tenant, token=token,
                                           priority_class=priority_class, reason="deadline moved")


R = RequestReason
CASES = {
    "raise own running workload": (change(), NORMAL, None),
    "lower own workload": (change("batch-low"), NORMAL, None),
    "reprioritise a suspended workload": (change(), HeldState("acme", "vision", None, True, "batch-normal"), None),
    "a workload admitted before its class was recorded": (change(), HeldState("acme", "vision", None, False), None),
    "without a token": (change(token=None), NORMAL, "token_missing"),
    "without a workload id": (change(workload_id=None), NORMAL, R.INVALID.value),
    "another team's workload": (change(tenant=NLP, signer_tenant=NLP), NORMAL, R.TENANT_MISMATCH.value),
    "with another team's token": (change(tenant=NLP), HeldState("acme", "nlp", None, False, "batch-normal"),
                                  R.TENANT_MISMATCH.value),
    "a workload never admitted": (change(), None, R.UNKNOWN.value),
    "a succeeded workload": (change(), HeldState("acme", "vision", "WorkloadSucceeded", False, "batch-normal"),
                             R.FINISHED.value),
    "a cancelled workload": (change(), HeldState("acme", "vision", CANCELLED_BY, False, "batch-normal"),
                             R.FINISHED.value),
    "a class the team may not use": (change("system-critical"), NORMAL, R.PRIORITY_NOT_ALLOWED.value),
    "the class it already has": (change("batch-normal"), NORMAL, R.PRIORITY_UNCHANGED.value),
}


@pytest.mark.parametrize("event, held, code", CASES.values(), ids=CASES.keys())
def test_a_priority_request_is_decided_with_one_reason(event, held, code):
    decision = decide_request(event, KEYRING, NOW, held, ALLOWED)
    assert decision.code == code
    assert decision.cancelled is (code is None)
    if code is not None:
        assert decision.message
    if not (code or "").startswith("token_"):
        assert decision.identity.subject == "ci@acme"


def test_a_team_without_allowed_classes_may_change_nothing():
    decision = decide_request(change(), KEYRING, datetime.now(timezone.utc), NORMAL, ())  # signed now: judged now
    assert decision.code == R.PRIORITY_NOT_ALLOWED.value and "may use: none" in decision.message


def test_the_verb_and_the_token_binding_name_the_request():
    assert verb_of(change()) == "priority"
    assert request_binding(change()) == request_binding(change("batch-low")) != request_binding(suspend())


FIELDS = ("workload_id", "tenant", "token", "reason", "priority_class", "event_id", "occurred_at")
GOOD_TOKEN = SIGN.token("acme", "vision")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.dictionaries(st.sampled_from(FIELDS), _json(), max_size=len(FIELDS)), keep_token=st.booleans(),
       held=st.sampled_from([None, NORMAL, HeldState("acme", "vision", CANCELLED_BY, False, "batch-low")]))
def test_a_malformed_request_is_dead_lettered_or_refused_with_a_reason_never_a_crash(garbage, keep_token, held):
    body = {"type": "WorkloadPriorityChangeRequested", "workload_id": "w-1", "priority_class": "batch-high",
            "tenant": {"org": "acme", "team": "vision"}, **({"token": GOOD_TOKEN} if keep_token else {}), **garbage}
    try:
        event = decode(json.dumps(body, default=str).encode())
    except DecodeError as exc:
        assert exc.reason in ("invalid", "unsupported-version", "not-json")
        return
    decision = decide_request(event, KEYRING, NOW, held, ALLOWED)
    assert decision.cancelled or (decision.code and decision.message)
    if decision.cancelled:  # a genuine token of the workload's team, a live workload, an allowed new class
        assert event.tenant == VISION and event.token == GOOD_TOKEN and held == NORMAL
        assert event.priority_class in ALLOWED and event.priority_class != "batch-normal"
