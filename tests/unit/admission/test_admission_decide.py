"""decide(): one case per reason code end to end, acceptance with defaults, audit, phase order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from admission_builders import KEYRING, NOW, ORG_KEY, PLATFORM_KEY, POLICY, T, a_job, a_token, at, fresh_cache

from libs.admission import Decision, Outcome, ReasonCode, decide, parse_submission, submission_digest


def decide_now(submission: Any, token: Any, **kwargs: Any) -> Decision:
    return decide(submission, token, KEYRING, POLICY, kwargs.pop("now", NOW), kwargs.pop("cache", fresh_cache()), **kwargs)


def test_a_compliant_submission_is_accepted_with_defaults() -> None:
    decision = decide_now(a_job().gpus(per_pod=2, count=2).build(), a_token().sign())
    assert decision.accepted and decision.rejection is None
    assert decision.spec.queue == "default" and decision.spec.priority_class == "batch-normal"
    assert decision.spec.pod_sets[0].resources.cpu_milli == 500
    assert decision.identity.subject == "alice@acme"
    assert "queue" in decision.defaulted


CASES = [
    pytest.param(a_job().build(), None, ReasonCode.TOKEN_MISSING, None, id="token-missing"),
    pytest.param(a_job().build(), "garbage", ReasonCode.TOKEN_MALFORMED, None, id="token-malformed"),
    pytest.param(a_job().build(), a_token().set(iat=T - 900, exp=T - 300).sign(), ReasonCode.TOKEN_EXPIRED, None, id="token-expired"),
    pytest.param({"workload_id": 7}, a_token().sign(), ReasonCode.SCHEMA_INVALID, None, id="schema-invalid"),
    pytest.param(a_job().tenant("globex", "ml").build(), a_token().sign(), ReasonCode.TENANT_MISMATCH, None, id="cross-tenant-team"),
    pytest.param(a_job().tenant("acme", "nlp").build(), a_token().sign(), ReasonCode.TENANT_MISMATCH, None, id="cross-tenant-same-org"),
    pytest.param(a_job().set(queue="prod").build(), a_token().sign(), ReasonCode.QUEUE_NOT_ALLOWED, None, id="queue-not-in-token"),
    pytest.param(a_job().build(), a_token().set(queues=("gpu",)).sign(), ReasonCode.QUEUE_NOT_ALLOWED, None, id="default-queue-not-in-token"),
    pytest.param(a_job().pod_set(privileged=True).build(), a_token().sign(), ReasonCode.POLICY_VIOLATION, "pod.privileged", id="policy"),
]


@pytest.mark.parametrize(("submission", "token", "code", "rule"), CASES)
def test_decide_rejects_with_reason_and_rule(submission: Any, token: Any, code: ReasonCode, rule: str | None) -> None:
    decision = decide_now(submission, token)
    assert decision.outcome is Outcome.REJECTED
    assert (decision.rejection.code, decision.rejection.rule) == (code, rule)
    assert (decision.audit.reason, decision.audit.rule, decision.audit.message) == (code, rule, decision.rejection.message)


def test_replayed_token_is_rejected_for_a_second_submission() -> None:
    cache, token = fresh_cache(), a_token().sign()
    assert decide_now(a_job("wl-1").build(), token, cache=cache).accepted
    replay = decide_now(a_job("wl-2").build(), token, cache=cache, now=at(10))
    assert replay.rejection.code is ReasonCode.TOKEN_REPLAYED


def test_redelivery_of_the_same_submission_is_accepted_again() -> None:
    cache, token, job = fresh_cache(), a_token().sign(), a_job().build()
    first = decide_now(job, token, cache=cache)
    again = decide_now(json.dumps(job), token, cache=cache, now=at(10))
    assert first.accepted and again.accepted and first.spec == again.spec


def test_a_rejected_submission_does_not_spend_the_token() -> None:
    cache, token = fresh_cache(), a_token().sign()
    assert not decide_now(a_job().pod_set(host_pid=True).build(), token, cache=cache).accepted
    assert decide_now(a_job().build(), token, cache=cache).accepted


def test_an_altered_submission_under_a_spent_token_is_a_replay() -> None:
    cache, token = fresh_cache(), a_token().sign()
    assert decide_now(a_job().gpus(per_pod=1).build(), token, cache=cache).accepted
    altered = decide_now(a_job().gpus(per_pod=8).build(), token, cache=cache)
    assert altered.rejection.code is ReasonCode.TOKEN_REPLAYED


@pytest.mark.parametrize("key", [ORG_KEY, PLATFORM_KEY], ids=["org-key", "platform-key"])
def test_broader_keys_vouch_for_teams_they_cover(key: Any) -> None:
    token = a_token().tenant("acme", "nlp").sign(key)
    assert decide_now(a_job().tenant("acme", "nlp").build(), token).accepted


def test_per_team_usage_is_taken_into_account() -> None:
    from libs.admission import TeamUsage

    decision = decide_now(a_job().build(), a_token().sign(), usage=TeamUsage(workloads=100))
    assert decision.rejection.rule == "team.max_workloads"


def test_policy_rejection_lists_every_violation_and_names_the_first() -> None:
    job = a_job().set(labels={}).pod_set(image="docker.io/x:1", host_network=True).build()
    rejection = decide_now(job, a_token().sign()).rejection
    assert rejection.rule == "image.registry"
    assert [v.rule for v in rejection.violations] == ["image.registry", "pod.host_network", "labels.required"]
    assert "and 2 more violations" in rejection.message


def test_authentication_is_checked_before_the_schema() -> None:
    decision = decide_now({"nonsense": True}, "garbage")
    assert decision.rejection.code is ReasonCode.TOKEN_MALFORMED


def test_the_audit_record_says_who_what_and_why() -> None:
    token = a_token().set(sub="ci-bot").sign()
    decision = decide_now(a_job("wl-9").tenant("globex", "ml").build(), token)
    audit = decision.audit.to_dict()
    assert audit["outcome"] == "rejected" and audit["reason"] == "tenant_mismatch"
    assert (audit["subject"], audit["caller_tenant"], audit["tenant"], audit["workload_id"]) == ("ci-bot", "acme/vision", "globex/ml", "wl-9")
    assert audit["decided_at"] == NOW.isoformat()
    assert audit["submission_digest"] == submission_digest(parse_submission(a_job("wl-9").tenant("globex", "ml").build()))
    json.dumps(audit)  # plain data


def test_audit_of_an_unreadable_submission_still_names_the_caller() -> None:
    audit = decide_now([1, 2, 3], a_token().set(sub="bob").sign()).audit
    assert (audit.subject, audit.workload_id, audit.reason) == ("bob", None, ReasonCode.SCHEMA_INVALID)


def test_accepted_audit_lists_defaulted_fields() -> None:
    audit = decide_now(a_job().build(), a_token().sign()).audit
    assert audit.outcome is Outcome.ACCEPTED and audit.reason is None
    assert audit.queue == "default" and "priority_class" in audit.defaulted


SCHEMA_INVALID = [
    pytest.param(None, id="none"),
    pytest.param([1, 2], id="list"),
    pytest.param("{not json", id="bad-json-text"),
    pytest.param(b"\xff\xfe", id="bad-bytes"),
    pytest.param(a_job().build() | {"priviledged": True}, id="unknown-top-level-field"),
    pytest.param(a_job().pod_set(priviledged=True).build(), id="typo-in-pod-set-flag"),
    pytest.param(a_job().pod_set(count="3").build(), id="count-as-string"),
    pytest.param(a_job().pod_set(count=True).build(), id="count-as-bool"),
    pytest.param(a_job().pod_set(count=10**30).build(), id="huge-count"),
    pytest.param(a_job().pod_set(count=0).build(), id="zero-count"),
    pytest.param(a_job().pod_set(privileged="false").build(), id="flag-as-string"),
    pytest.param(a_job().pod_set(count=2, min_count=3).build(), id="min-count-over-count"),
    pytest.param(a_job().pod_set(resources={"gpu_count": 1, "gpu_milli": 500}).build(), id="whole-and-fractional-gpus"),
    pytest.param(a_job().pod_set(resources={"cpu_milli": -1}).build(), id="negative-cpu"),
    pytest.param(a_job().pod_set(image="Registry.io/UPPER/x").build(), id="image-uppercase-path"),
    pytest.param(a_job().pod_set(image="reg.io/a/../b").build(), id="image-dot-dot"),
    pytest.param(a_job().pod_set(image="reg.io/x y").build(), id="image-space"),
    pytest.param(a_job().pod_set("a").pod_set("a").build(), id="duplicate-pod-set"),
    pytest.param(a_job().set(pod_sets=[]).build() | {"pod_sets": []}, id="no-pod-sets"),
    pytest.param(a_job("wl ☃").build(), id="unicode-workload-id"),
    pytest.param(a_job().tenant("ACME", "vision").build(), id="uppercase-org"),
    pytest.param(a_job().set(labels={"bad key!": "v"}).build(), id="bad-label-key"),
    pytest.param(a_job().set(max_runtime_s=0).build(), id="zero-runtime"),
    pytest.param(a_job().pod_set(tolerations=[{"operator": "Maybe"}]).build(), id="bad-toleration"),
    pytest.param(a_job().pod_set(tolerations=[{"operator": "Equal", "value": "x"}]).build(), id="toleration-equal-no-key"),
    pytest.param(a_job().pod_set(tolerations=[{"key": "k", "operator": "Exists", "value": "x"}]).build(), id="toleration-exists-value"),
    pytest.param(a_job().pod_set(topology={"level": "galaxy"}).build(), id="bad-topology"),
    pytest.param(a_job().without("tenant").build(), id="no-tenant"),
    pytest.param('{"labels":' * 50_000 + "1" + "}" * 50_000, id="deeply-nested-json"),
    pytest.param(json.dumps(a_job().build() | {"pad": "x" * 300_000}), id="oversized-json"),
    pytest.param('{"workload_id": ' + "9" * 5000 + "}", id="huge-json-number"),
]


@pytest.mark.parametrize("submission", SCHEMA_INVALID)
def test_malformed_submissions_are_schema_invalid(submission: Any) -> None:
    decision = decide_now(submission, a_token().sign())
    assert decision.rejection.code is ReasonCode.SCHEMA_INVALID
    assert decision.rejection.message.startswith("submission")


def test_schema_messages_bound_caller_supplied_keys() -> None:
    job = a_job().set(labels={"x" * 5000: "v"}).build()
    assert len(decide_now(job, a_token().sign()).rejection.message) < 400


def test_submission_accepts_json_text_and_bytes() -> None:
    job = a_job().build()
    assert parse_submission(json.dumps(job)) == parse_submission(json.dumps(job).encode()) == parse_submission(job)


def test_submission_digest_ignores_mapping_order() -> None:
    one = a_job().set(labels={"a": "1", "cost-center": "cc"}).pod_set(node_selector={"x": "1", "y": "2"}).build()
    two = a_job().set(labels={"cost-center": "cc", "a": "1"}).pod_set(node_selector={"y": "2", "x": "1"}).build()
    assert submission_digest(parse_submission(one)) == submission_digest(parse_submission(two))
    cache, token = fresh_cache(), a_token().sign()
    assert decide_now(one, token, cache=cache).accepted and decide_now(two, token, cache=cache).accepted
