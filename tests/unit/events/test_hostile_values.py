"""Hostile record values decode to an event or fail with DecodeError and a reason code, never anything else: an
exception other than DecodeError escapes the consumer's dead-letter path and the record is lost unrecorded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events import EVENT_TYPES, DecodeError, decode

MAX_VALUE_BYTES = 1_048_576  # Kafka's default max.message.bytes (libs.events.registry.MAX_VALUE_BYTES)

OPENERS = [b"[", b'{"a":', b'{"type": "WorkloadSubmitted", "spec": [', b'{"type": "NodeInventoried", "labels": {"x":']


def _decodes_or_refuses(raw: bytes) -> str:
    try:
        decode(raw)
    except DecodeError as exc:
        assert exc.reason and exc.message
        return exc.reason
    return "ok"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(OPENERS), st.integers(1, 120_000), st.booleans())
def test_nesting_at_any_depth_is_refused_or_decoded(opener, depth, closed):
    closer = (b"]" if opener.endswith(b"[") else b"}") * depth if closed else b""
    assert _decodes_or_refuses(opener * depth + closer) in ("ok", "too-deep", "too-large", "not-json",
                                                            "not-object", "unknown-type", "invalid")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(EVENT_TYPES)), st.sampled_from(["workload_id", "schema_version", "amount_micros", "x"]),
       st.integers(1, 20_000))
def test_numbers_of_any_length_are_refused_or_decoded(kind, field, digits):
    raw = b'{"type": "%s", "%s": %s}' % (kind.encode(), field.encode(), b"7" * digits)
    assert _decodes_or_refuses(raw) in ("ok", "not-json", "invalid", "unsupported-version")


def test_a_value_larger_than_a_record_may_be_is_refused_before_parsing():
    assert _decodes_or_refuses(b" " * (MAX_VALUE_BYTES + 1)) == "too-large"


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                max_size=4), max_leaves=40),
       st.sampled_from(sorted(EVENT_TYPES)))
def test_any_json_in_any_field_of_a_known_type_is_refused_or_decoded(value, kind):
    import json
    for field in ("spec", "tenant", "labels", "assignments", "flavors", "occurred_at", "event_id"):
        raw = json.dumps({"type": kind, field: value}).encode()
        _decodes_or_refuses(raw)
