"""Event contracts: round trips, decoding errors with reason codes, and the catalog's coverage."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events import (
    CATALOG,
    EVENT_TYPES,
    DecodeError,
    PodSet,
    Resources,
    Tenant,
    WorkloadSpec,
    WorkloadSubmitted,
    decode,
    encode,
    topic_for,
)


def submitted(**spec) -> WorkloadSubmitted:
    return WorkloadSubmitted(workload_id="w-1", tenant=Tenant(org="acme", team="nlp"),
                             spec=WorkloadSpec(name="train", pod_sets=(PodSet(name="worker", count=2),), **spec))


def test_round_trip_keeps_every_field():
    event = submitted(labels={"owner": "ana"})
    assert decode(encode(event)) == event


def test_key_is_the_subject():
    assert submitted().key == b"w-1"


@pytest.mark.parametrize("raw, reason", [
    pytest.param(None, "empty", id="no-value"),
    pytest.param(b"\xff\xfe", "not-json", id="not-utf8"),
    pytest.param(b"{", "not-json", id="truncated-json"),
    pytest.param(b"[1, 2]", "not-object", id="json-array"),
    pytest.param(b'{"type": "Nope"}', "unknown-type", id="unknown-type"),
    pytest.param(b'{"type": "WorkloadSubmitted", "schema_version": 9}', "unsupported-version", id="future-version"),
    pytest.param(b'{"type": "WorkloadSubmitted"}', "invalid", id="missing-spec"),
])
def test_decode_errors_carry_a_reason_code(raw, reason):
    with pytest.raises(DecodeError) as caught:
        decode(raw)
    assert caught.value.reason == reason


def test_decode_refuses_an_event_on_the_wrong_topic():
    [submitted_topic] = [t for t in CATALOG if "WorkloadSubmitted" in t.event_names]
    other = next(t for t in CATALOG if t is not submitted_topic)
    with pytest.raises(DecodeError, match="does not belong"):
        decode(encode(submitted()), allowed=other.event_names)


@pytest.mark.parametrize("bad", [
    pytest.param({"gpu": 1, "gpu_milli": 500}, id="whole-and-shared-gpu"),
    pytest.param({"cpu_milli": -1}, id="negative-cpu"),
])
def test_resources_reject_nonsense(bad):
    with pytest.raises(ValueError):
        Resources(**bad)


def test_min_count_cannot_exceed_count():
    with pytest.raises(ValueError, match="min_count"):
        PodSet(name="w", count=2, min_count=3)


def test_events_are_frozen():
    with pytest.raises(ValueError):
        submitted().workload_id = "other"  # type: ignore[misc]


def test_every_event_type_has_a_topic_and_every_topic_key_is_an_envelope_field():
    for name, model in EVENT_TYPES.items():
        assert topic_for(model.model_construct(type=name)).name
    for topic in CATALOG:
        assert topic.key in {"workload_id", "node_id", "event_id"}


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_decode_or_fail_with_a_reason(raw):
    try:
        decode(raw)
    except DecodeError as exc:
        assert exc.reason in {"empty", "not-json", "not-object", "unknown-type", "unsupported-version", "invalid",
                              "wrong-topic"}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(EVENT_TYPES)), st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_random_json_objects_of_a_known_type_decode_or_fail_with_a_reason(kind, body):
    raw = json.dumps({**body, "type": kind}).encode()
    try:
        event = decode(raw)
    except DecodeError as exc:
        assert exc.reason in {"invalid", "unsupported-version"}
    else:
        assert event.type == kind
