"""Property tests: garbage in never crashes decide/parse/authenticate, and outcomes are deterministic."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from admission_builders import KEYRING, NOW, ORG_KEY, POLICY, T, a_job, a_token, at, fresh_cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.admission import (
    Claims, Decision, Identity, Outcome, ReasonCode, Rejection, TeamUsage, authenticate, decide, evaluate,
    parse_submission, sign,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.binary(max_size=20),
)
garbage = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["workload_id", "tenant", "queue", "priority_class", "labels", "pod_sets", "max_runtime_s",
          "org", "team", "name", "count", "min_count", "image", "resources", "cpu_milli", "gpu_count", "privileged"]
job_like = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), garbage, max_size=8)


def decide_fresh(submission: Any, token: Any, usage: TeamUsage | None = None) -> Decision:
    return decide(submission, token, KEYRING, POLICY, NOW, fresh_cache(), usage=usage)


VALID_TOKEN = a_token().set(exp=T + 3600).sign()


@SETTINGS
@given(submission=garbage | job_like)
def test_garbage_submissions_get_a_typed_rejection_deterministically(submission: Any) -> None:
    first = decide_fresh(submission, VALID_TOKEN)
    assert first.outcome is Outcome.REJECTED
    assert isinstance(first.rejection, Rejection) and first.rejection.code is ReasonCode.SCHEMA_INVALID
    assert first == decide_fresh(copy.deepcopy(submission), VALID_TOKEN)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            out += _paths(value, prefix + (index,))
    return out


BASE_JOB = (
    a_job().set(queue="gpu", labels={"cost-center": "cc", "team": "v"})
    .pod_set("a", 2, min_count=1, resources={"cpu_milli": 100, "gpu_count": 1, "gpu_model": "H100"},
             node_selector={"pool": "gpu"}, tolerations=[{"key": "gpu", "operator": "Exists"}],
             topology={"level": "rack"})
    .pod_set("b", 1).build()
)


@SETTINGS
@given(path=st.sampled_from(_paths(BASE_JOB)), value=garbage)
def test_a_valid_job_with_any_field_replaced_never_crashes(path: tuple, value: Any) -> None:
    job = copy.deepcopy(BASE_JOB)
    target = job
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    first = decide_fresh(job, VALID_TOKEN)
    assert isinstance(first, Decision)
    assert first.accepted or isinstance(first.rejection.code, ReasonCode)
    assert first == decide_fresh(copy.deepcopy(job), VALID_TOKEN)


b64_part = st.binary(max_size=64).map(lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode())
json_part = garbage.map(lambda v: base64.urlsafe_b64encode(json.dumps(v, default=repr).encode()).rstrip(b"=").decode())
token_like = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(b64_part, json_part, st.text(max_size=20)), min_size=1, max_size=5).map(".".join),
    garbage,
)


@SETTINGS
@given(token=token_like)
def test_random_tokens_are_refused_with_a_token_reason(token: Any) -> None:
    result = authenticate(token, KEYRING, NOW)
    assert isinstance(result, Rejection) and result.code.value.startswith("token_")
    assert result == authenticate(token, KEYRING, NOW)
    decision = decide_fresh(BASE_JOB, token)
    assert decision.rejection.code is result.code


@SETTINGS
@given(data=st.data())
def test_any_single_character_change_to_a_token_is_refused(data: st.DataObject) -> None:
    token = VALID_TOKEN
    index = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    char = data.draw(st.sampled_from([c for c in alphabet if c != token[index]]))
    result = authenticate(token[:index] + char + token[index + 1:], KEYRING, NOW)
    assert isinstance(result, Rejection)


names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)


@SETTINGS
@given(
    sub=st.text(min_size=1, max_size=50), team=names, queues=st.lists(names, min_size=1, max_size=5),
    lifetime=st.integers(1, 24 * 3600), age=st.integers(0, 2 * 24 * 3600),
)
def test_signed_claims_round_trip_until_expiry(sub: str, team: str, queues: list[str], lifetime: int, age: int) -> None:
    claims = Claims(sub=sub, org="acme", team=team, queues=tuple(queues), iat=T - age, exp=T - age + lifetime,
                    jti="roundtrip-jti-00001")
    result = authenticate(sign(claims, ORG_KEY), KEYRING, NOW)
    if age >= lifetime + KEYRING.leeway_s:
        assert result.code is ReasonCode.TOKEN_EXPIRED
    else:
        assert isinstance(result, Identity)
        assert (result.subject, result.org, result.team, result.queues) == (sub, "acme", team, frozenset(queues))


pod_sets = st.lists(
    st.fixed_dictionaries(
        {"count": st.integers(1, 40), "image": st.sampled_from(["registry.batchyard.io/x:1", "ghcr.io/acme/y", "ubuntu"])},
        optional={
            "privileged": st.booleans(), "host_pid": st.booleans(),
            "resources": st.fixed_dictionaries({}, optional={
                "cpu_milli": st.integers(0, 64_000), "gpu_count": st.integers(0, 8), "memory_mib": st.integers(0, 10**6),
            }),
        },
    ),
    min_size=1, max_size=4,
)


@SETTINGS
@given(
    pods=pod_sets, queue=st.sampled_from([None, "default", "gpu", "prod"]),
    priority=st.sampled_from([None, "batch-low", "batch-high", "system"]), runtime=st.none() | st.integers(1, 200_000),
    usage=st.builds(TeamUsage, st.integers(0, 100_000), st.integers(0, 300), st.integers(0, 120)),
)
def test_well_formed_jobs_are_decided_consistently(
    pods: list[dict], queue: str | None, priority: str | None, runtime: int | None, usage: TeamUsage
) -> None:
    job = a_job().set(queue=queue, priority_class=priority, max_runtime_s=runtime)
    for index, pod in enumerate(pods):
        job.pod_set(f"p{index}", **pod)
    decision = decide_fresh(job.build(), VALID_TOKEN, usage)
    assert decision == decide_fresh(job.build(), VALID_TOKEN, usage)
    if decision.accepted:
        spec = decision.spec
        assert spec.queue and spec.priority_class and spec.max_runtime_s
        assert all(p.resources.cpu_milli is not None and p.resources.memory_mib is not None for p in spec.pod_sets)
        assert evaluate(spec, POLICY.for_tenant("acme", "vision"), usage) == ()
    else:
        assert decision.rejection.code in (ReasonCode.QUEUE_NOT_ALLOWED, ReasonCode.POLICY_VIOLATION)
        assert decision.rejection.code is not ReasonCode.POLICY_VIOLATION or decision.rejection.rule


@SETTINGS
@given(submission=garbage | job_like)
def test_parse_never_raises(submission: Any) -> None:
    assert isinstance(parse_submission(submission), Rejection)


def test_decisions_do_not_depend_on_wall_clock() -> None:
    assert decide_fresh(BASE_JOB, VALID_TOKEN) == decide_fresh(BASE_JOB, VALID_TOKEN)
    assert not decide(BASE_JOB, VALID_TOKEN, KEYRING, POLICY, at(3600 + 31), fresh_cache()).accepted
