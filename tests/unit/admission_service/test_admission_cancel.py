"""Who may cancel which workload (services/admission/cancel.py): one reason per refusal, never an exception."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events import DecodeError, Tenant, WorkloadCancelRequested, decode
from services.admission.cancel import CANCELLED_BY, CancelReason, Held, cancel_binding, decide_cancel
from services.admission.keyring import load_verifier_keyring
from services.admission.signing import DEMO_KEYRING, TokenSigner, demo_signer

KEYRING = load_verifier_keyring(DEMO_KEYRING).keyring
SIGN = demo_signer("ci@acme")
NOW = datetime.now(timezone.utc)
VISION, NLP = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp")
LIVE = Held("acme", "vision", None)


def request(workload_id: str | None = "w-1", tenant: Tenant | None = VISION, token: str | None = "sign",
            signer_tenant: Tenant = VISION) -> WorkloadCancelRequested:
    if token == "sign":
        token = SIGN.token(signer_tenant.org, signer_tenant.team)
    return WorkloadCancelRequested(workload_id=workload_id, tenant=tenant, token=token, reason="wrong data")


CASES = {
    "own live workload: cancelled": (request(), LIVE, None),
    "no token": (request(token=None), LIVE, "token_missing"),
    "garbage token": (request(token="a.b.c"), LIVE, "token_malformed"),
    "no workload id": (request(workload_id=None), LIVE, CancelReason.INVALID.value),
    "no tenant": (request(tenant=None), LIVE, CancelReason.INVALID.value),
    "token of another team": (request(tenant=NLP), Held("acme", "nlp", None), CancelReason.TENANT_MISMATCH.value),
    "another team's workload": (request(tenant=NLP, signer_tenant=NLP), LIVE, CancelReason.TENANT_MISMATCH.value),
    "never admitted": (request(), None, CancelReason.UNKNOWN.value),
    "cancelled before": (request(), Held("acme", "vision", CANCELLED_BY), CancelReason.ALREADY_CANCELLED.value),
    "succeeded": (request(), Held("acme", "vision", "WorkloadSucceeded"), CancelReason.FINISHED.value),
    "failed": (request(), Held("acme", "vision", "WorkloadFailed"), CancelReason.FINISHED.value),
    "admitted before tenants were recorded": (request(), Held(None, None, None), CancelReason.TENANT_MISMATCH.value),
}


@pytest.mark.parametrize("event, held, code", CASES.values(), ids=CASES.keys())
def test_a_cancel_request_is_decided_with_one_reason(event, held, code):
    decision = decide_cancel(event, KEYRING, NOW, held)
    assert decision.code == code
    assert decision.cancelled is (code is None)
    if code is not None:
        assert decision.message  # in words, for the caller
    if not (code or "").startswith("token_"):
        assert decision.identity.subject == "ci@acme"  # the verified caller, for the audit and WorkloadCancelled


def test_an_expired_token_is_refused_before_anything_about_the_workload_is_said():
    stale = TokenSigner(SIGN.entries, subject="ci@acme", clock=lambda: NOW - timedelta(hours=2))
    event = request(token=stale.token("acme", "vision"))
    assert decide_cancel(event, KEYRING, NOW, None).code == "token_expired"


def test_the_token_binding_names_the_workload():
    assert cancel_binding("w-1") == cancel_binding("w-1") != cancel_binding("w-2")


def _json() -> st.SearchStrategy:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=10), inner, max_size=4), max_leaves=12)


FIELDS = ("workload_id", "tenant", "token", "reason", "event_id", "occurred_at", "schema_version")
GOOD_TOKEN = SIGN.token("acme", "vision")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.dictionaries(st.sampled_from(FIELDS), _json(), max_size=len(FIELDS)),
       keep_token=st.booleans(), held=st.sampled_from([None, LIVE, Held("acme", "vision", CANCELLED_BY)]))
def test_a_malformed_cancel_request_is_dead_lettered_or_refused_with_a_reason_never_a_crash(garbage, keep_token,
                                                                                            held):
    body = {"type": "WorkloadCancelRequested", "workload_id": "w-1", "tenant": {"org": "acme", "team": "vision"},
            **({"token": GOOD_TOKEN} if keep_token else {}), **garbage}
    try:
        event = decode(json.dumps(body, default=str).encode())
    except DecodeError as exc:  # the consumer dead-letters it with this reason; the partition moves on
        assert exc.reason in ("invalid", "unsupported-version", "not-json")
        return
    decision = decide_cancel(event, KEYRING, NOW, held)
    assert decision.cancelled or (decision.code and decision.message)
    if decision.cancelled:  # only a genuine token of the workload's own team cancels it
        assert held == LIVE and event.tenant == VISION and event.token == GOOD_TOKEN
