"""Fuzzing admission on real Kafka and Postgres: hostile submissions and random bytes never crash it or stall
a partition; every input ends accepted, rejected or dead-lettered, is counted, and nothing is lost.

Inputs (counts from FUZZ_SUBMISSIONS / FUZZ_BYTES, defaults below; docs/security.md records a run):
- hypothesis-built submissions that pass the Kafka contract, with hostile content (privileged pods, foreign
  registries, unknown priority classes and queues, other tenants) under tokens that are valid, missing,
  garbage, one character off, expired, for another tenant or already spent;
- the same generator's documents that fail the contract, sent as raw JSON;
- random bytes;
- hypothesis-built cancel requests (of admitted, other teams' and unknown workloads, garbage ids and tenants)
  under the same tokens: each is decided or dead-lettered, and a workload is cancelled at most once.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from pydantic import ValidationError

from libs.events import Tenant, WorkloadCancelRequested, WorkloadSubmitted, encode
from libs.events.topics import SUBMITTED
from libs.platform.publisher import EventPublisher
from libs.platform.service import create_app
from libs.platform.settings import Settings
from services.admission.app import DEFINITION
from services.admission.signing import TokenSigner, demo_signer

pytestmark = pytest.mark.integration
SUBMISSIONS = int(os.environ.get("FUZZ_SUBMISSIONS", "1500"))
RANDOM_BYTES = int(os.environ.get("FUZZ_BYTES", "500"))
CANCELS = int(os.environ.get("FUZZ_CANCELS", "400"))

TENANTS = [("acme", "vision"), ("acme", "nlp"), ("globex", "research"), ("evil", "x"), ("acme", "Vision")]
IMAGES = ["registry.batchyard.dev/batch/runner:1", "ubuntu", "ghcr.io/acme/train:2", "ghcr.io/acme-evil/x:1",
          "registry.batchyard.dev.evil.com/x", "registry.batchyard.dev:5000/x", "UPPER/Case", "a" * 600]
NAMES = ["main", "worker", "driver", "w.1", "x_y", "Bad Name", ""]
SIGNER = demo_signer("fuzz@batchyard")
STALE = TokenSigner(SIGNER.entries, subject="fuzz", clock=lambda: datetime.now(timezone.utc) - timedelta(hours=3))
SPENT = SIGNER.token("acme", "vision")


def _mutate(token: str, position: int, char: str) -> str:
    i = position % len(token)
    return token[:i] + (char if token[i] != char else "A") + token[i + 1:]


@st.composite
def tokens(draw, org: str, team: str) -> str | None:
    kind = draw(st.sampled_from(["valid", "valid", "valid", "none", "text", "mutated", "expired", "other", "spent"]))
    covered = org in ("acme", "globex") and team in ("vision", "nlp", "research")
    if kind == "valid" and covered:
        return SIGNER.token(org, team, draw(st.sampled_from([None, ["default"], ["gpu"]])))
    if kind == "none":
        return draw(st.sampled_from([None, ""]))
    if kind == "text":
        return draw(st.text(max_size=300))
    if kind == "mutated":
        return _mutate(SIGNER.token("acme", "vision"), draw(st.integers(0, 10_000)), draw(st.characters()))
    if kind == "expired":
        return STALE.token("acme", "vision")
    if kind == "spent":
        return SPENT
    return SIGNER.token("globex", "research")


def requests(wide: bool):
    cpu = st.integers(0, 64_000) | st.integers(-5, 20_000_000) if wide else st.integers(0, 64_000)
    gpus = st.fixed_dictionaries({}, optional={"gpu": st.integers(0, 16)}) | \
        st.fixed_dictionaries({}, optional={"gpu_milli": st.integers(0, 1000)})
    if wide:
        gpus = gpus | st.fixed_dictionaries({"gpu": st.integers(0, 100), "gpu_milli": st.integers(0, 1500)})
    return st.tuples(st.fixed_dictionaries({}, optional={"cpu_milli": cpu, "memory_mib": st.integers(0, 10**6)}),
                     gpus).map(lambda parts: {**parts[0], **parts[1]})


def either(valid, hostile, wide: bool):
    """Returns the contract-valid choices, widened by contract-breaking ones when ``wide``."""
    return valid | hostile if wide else valid


def pod_sets(wide: bool):
    names = either(st.sampled_from(["main", "worker", "driver", "head", "ps"]), st.sampled_from(NAMES), wide)
    pod_set = st.fixed_dictionaries(
        {"name": names, "count": either(st.integers(1, 64), st.integers(0, 20_000), wide)},
        optional={"image": st.sampled_from(IMAGES) | st.text(max_size=40), "requests": requests(wide),
                  "privileged": st.booleans(), "host_network": st.booleans(),
                  "host_pid": st.booleans(), "host_path": st.booleans(),
                  "node_selector": st.dictionaries(st.sampled_from(["zone", "a/b", "Bad Key"]) | st.text(max_size=20),
                                                   st.sampled_from(["x", "us-1"]) | st.text(max_size=20), max_size=3),
                  "tolerations": st.lists(st.fixed_dictionaries({"key": st.sampled_from(["gpu", "spot"])}, optional={
                      "value": st.none() | st.text(max_size=10)}), max_size=2),
                  "topology": st.fixed_dictionaries({"level": either(st.sampled_from(["host", "rack"]),
                                                                     st.just("galaxy"), wide)})})
    unique = st.lists(pod_set, min_size=1, max_size=4, unique_by=lambda p: p["name"])
    return either(unique, st.lists(pod_set, min_size=0, max_size=3), wide)


@st.composite
def submissions(draw) -> dict:
    """Returns one submission document: four in five pass the Kafka contract (hostile content, though)."""
    wide = draw(st.integers(0, 4)) == 0
    org, team = draw(either(st.sampled_from(TENANTS[:4]), st.sampled_from(TENANTS), wide))
    spec = draw(st.fixed_dictionaries(
        {"name": either(st.sampled_from(["job", "train-1"]), st.just("Bad!"), wide), "pod_sets": pod_sets(wide)},
        optional={"queue": st.sampled_from(["default", "default", "gpu", "a.b"]) | st.none(),
                  "priority_class": st.sampled_from(["low", "normal", "high", "critical", "platinum"]) | st.none(),
                  "labels": st.dictionaries(st.sampled_from(["team", "cost-center", "a/b"]) | st.text(max_size=30),
                                            st.sampled_from(["x", "1"]) | st.text(max_size=30), max_size=4),
                  "max_runtime_s": either(st.integers(1, 10**6), st.integers(-1, 10**9), wide),
                  "kind": either(st.sampled_from(["batch", "ray"]), st.just("quantum"), wide)}))
    workload_id = draw(st.none() | st.text(min_size=1, max_size=40)) if wide else None
    return {"type": "WorkloadSubmitted", "workload_id": workload_id, "tenant": {"org": org, "team": team},
            "spec": spec, "token": draw(tokens(org, team))}


def encoded(document: dict, index: int) -> bytes:
    """Returns the submission's bytes: the contract's encoding when it is valid, else its raw JSON."""
    document = {**document, "workload_id": document["workload_id"] or f"fz-{index:06d}"}
    try:
        return encode(WorkloadSubmitted.model_validate(document))
    except ValidationError:
        return json.dumps(document).encode()


def generate(strategy, count: int) -> list:
    """Returns ``count`` examples drawn (reproducibly) from ``strategy``."""
    drawn: list = []

    @hsettings(max_examples=count, database=None, derandomize=True, deadline=None,
               suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value) -> None:
        drawn.append(value)

    collect()
    return drawn[:count]


async def wait_until_counted(pool, expected: int, timeout: float) -> tuple[int, int]:
    """Returns (decisions, dead letters) once they add up to ``expected``, or at the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        decisions = await pool.fetchval("select count(distinct event_id) from admission.audit_log")
        letters = await pool.fetchval("select count(*) from admission.dead_letters")
        if decisions + letters >= expected or asyncio.get_running_loop().time() > deadline:
            return decisions, letters
        await asyncio.sleep(0.5)


async def test_fuzzed_submissions_and_random_bytes_are_each_decided_or_dead_lettered(
        kafka_bootstrap, database_url, namespace):
    structured = [encoded(doc, i) for i, doc in enumerate(generate(submissions(), SUBMISSIONS))]
    noise = generate(st.binary(max_size=2048), RANDOM_BYTES)
    settings = Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                        retry_backoff_s=0.01)
    app = create_app(settings, DEFINITION)
    async with app:
        async with EventPublisher(kafka_bootstrap, namespace) as pub:
            futures = [await pub.send_raw(SUBMITTED, value, key=str(i % 97).encode())
                       for i, value in enumerate(structured + noise)]
            await asyncio.gather(*futures)
            sentinel = SIGNER(WorkloadSubmitted.model_validate({
                "workload_id": "sentinel", "tenant": {"org": "acme", "team": "vision"},
                "spec": {"name": "sentinel", "pod_sets": [{"name": "main", "count": 1}]}}))
            await pub.publish([sentinel])
        total = len(structured) + len(noise) + 1
        decisions, letters = await wait_until_counted(app.runtime.pool, total, timeout=300)
        handlers = app.runtime.service
        sentinel_row = await app.runtime.pool.fetchrow(
            "select outcome from admission.audit_log where workload_id = 'sentinel'")
        outcomes = dict(await app.runtime.pool.fetch(
            "select coalesce(reason, 'accepted'), count(*) from admission.audit_log group by 1"))
    print(f"\nfuzz: {len(structured)} submissions + {len(noise)} random byte strings + 1 sentinel: "
          f"{decisions} decided, {letters} dead-lettered; outcomes {outcomes}")
    assert decisions + letters == total, f"lost {total - decisions - letters} of {total}"
    assert sentinel_row["outcome"] == "accepted", "the partitions kept flowing after the fuzz"
    assert outcomes.get("accepted", 0) > 0 and len(outcomes) > 5, outcomes
    assert sum(handlers.counts.values()) == decisions


TARGETS = [f"cx-{team}-{i}" for team in ("vision", "nlp") for i in range(10)]  # admitted before the cancels


@st.composite
def cancel_requests(draw) -> dict:
    """Returns one cancel request document: of admitted workloads (any team's), unknown ones, or garbage ids,
    under the same hostile tokens as submissions; one in five breaks the Kafka contract."""
    wide = draw(st.integers(0, 4)) == 0
    org, team = draw(either(st.sampled_from(TENANTS[:4]), st.sampled_from(TENANTS), wide))
    ids = st.sampled_from(TARGETS) | st.sampled_from(["fz-unknown", "cx-vision-99"])
    workload_id = draw(either(ids, st.none() | st.text(max_size=200), wide))
    tenant = draw(either(st.just({"org": org, "team": team}), st.none() | st.just({"org": org}), wide))
    reason = draw(either(st.text(max_size=60), st.text(min_size=490, max_size=700), wide))
    return {"type": "WorkloadCancelRequested", "workload_id": workload_id, "tenant": tenant, "reason": reason,
            "token": draw(tokens(org, team))}


def encoded_cancel(document: dict) -> bytes:
    try:
        return encode(WorkloadCancelRequested.model_validate(document))
    except ValidationError:
        return json.dumps(document).encode()


async def test_fuzzed_cancel_requests_are_each_decided_or_dead_lettered_and_cancel_at_most_once(
        kafka_bootstrap, database_url, namespace):
    cancels = [encoded_cancel(doc) for doc in generate(cancel_requests(), CANCELS)]
    targets = [SIGNER(WorkloadSubmitted.model_validate({
        "workload_id": wid, "tenant": {"org": "acme", "team": wid.split("-")[1]},
        "spec": {"name": "job", "pod_sets": [{"name": "main", "count": 1}]}})) for wid in TARGETS]
    settings = Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                        retry_backoff_s=0.01)
    app = create_app(settings, DEFINITION)
    async with app:
        async with EventPublisher(kafka_bootstrap, namespace) as pub:
            await pub.publish(targets)
            decided, _ = await wait_until_counted(app.runtime.pool, len(targets), timeout=120)
            assert decided == len(targets)
            futures = [await pub.send_raw(SUBMITTED, value, key=str(i % 97).encode())
                       for i, value in enumerate(cancels)]
            await asyncio.gather(*futures)
            sentinel = WorkloadCancelRequested(workload_id="cx-nlp-0", tenant=Tenant(org="acme", team="nlp"),
                                               token=SIGNER.token("acme", "nlp"))
            await pub.publish([sentinel])
        total = len(targets) + len(cancels) + 1
        decisions, letters = await wait_until_counted(app.runtime.pool, total, timeout=300)
        pool = app.runtime.pool
        outcomes = dict(await pool.fetch("select coalesce(reason, 'cancelled'), count(*) from admission.audit_log "
                                         "where action = 'cancel' group by 1"))
        per_workload = dict(await pool.fetch("select workload_id, count(*) from admission.audit_log "
                                             "where action = 'cancel' and outcome = 'accepted' group by 1"))
        sentinel_row = await pool.fetchrow("select outcome, reason from admission.audit_log where event_id = $1",
                                           sentinel.event_id)
        ended = dict(await pool.fetch("select workload_id, finished_by from admission.admitted_workloads"))
    print(f"\nfuzz: {len(cancels)} cancel requests + 1 sentinel: {decisions - len(targets)} decided, {letters} "
          f"dead-lettered; outcomes {outcomes}")
    assert decisions + letters == total, f"lost {total - decisions - letters} of {total}"
    assert sentinel_row is not None, "the partitions kept flowing after the fuzz"
    assert tuple(sentinel_row) in (("accepted", None), ("rejected", "workload_already_cancelled"))
    assert per_workload and all(n == 1 for n in per_workload.values()), per_workload  # cancelled at most once
    assert set(per_workload) <= set(TARGETS) and all(ended[w] == "WorkloadCancelled" for w in per_workload)
    assert len(outcomes) > 4, outcomes
