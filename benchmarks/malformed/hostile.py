"""Hostile building blocks for the bad records: Hypothesis-drawn JSON values and byte strings (a seeded draw,
done once per run), and the hand-made hostile shapes (deep nesting, huge integers, near-limit values, bad UTF-8,
hostile headers and keys)."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, Phase, given, seed as hseed, settings as hsettings, strategies as st

# the largest value sent: Kafka's default max.message.bytes (1 MiB + 12) holds it with its key and headers
NEAR_LIMIT = 1_040_000

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)


def draw(strategy: st.SearchStrategy, count: int, seed: int) -> list:
    """Returns up to ``count`` examples of ``strategy``, the same for the same seed (Hypothesis may stop early
    when it runs out of distinct examples)."""
    drawn: list = []

    @hseed(seed)
    @hsettings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
               suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value) -> None:
        drawn.append(value)

    collect()
    return drawn


def deep(rng: random.Random, type_name: str) -> bytes:
    """Returns an event-looking object whose payload nests arrays or objects far past the parser's recursion
    limit (balanced, so only the depth is wrong)."""
    depth = rng.choice((1_500, 1_500, 5_000, 5_000, 20_000, 150_000))  # 150,000 levels: 0.9 MB
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    return b'{"type":"' + type_name.encode() + b'","spec":' + opener * depth + b"1" + closer * depth + b"}"


def huge_integer(rng: random.Random, type_name: str) -> bytes:
    """Returns an event-looking object carrying an integer of more digits than Python will parse."""
    digits = rng.choice((4_301, 4_301, 10_000, 100_000))
    field = rng.choice(("schema_version", "cpu_milli", "gpu", "source_offset"))
    return b'{"type":"' + type_name.encode() + b'","' + field.encode() + b'":' + b"9" * digits + b"}"


def near_limit(rng: random.Random, document: dict) -> bytes:
    """Returns a value of 0.9 to 1 MiB that is not an event: a real document with an oversized field, a huge
    array, or filler that is not JSON at all."""
    size = rng.randint(900_000, NEAR_LIMIT - 2_000)
    shape = rng.randrange(3)
    if shape == 0:  # producer allows 64 characters, workload ids 128
        return json.dumps({**document, rng.choice(("producer", "workload_id", "node_id")): "x" * size}).encode()
    if shape == 1:
        return json.dumps({**document, "schema_version": [0] * (size // 3)}).encode()
    return b'{"type":"' + str(document.get("type", "x")).encode() + b'","pad":"' + b"\x00" * size


def bad_utf8(rng: random.Random, value: bytes) -> bytes:
    """Returns ``value`` with an invalid UTF-8 sequence put inside it (a stray continuation byte, an overlong
    encoding, an encoded surrogate, or bytes no UTF-8 has)."""
    junk = rng.choice((b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff\xfe", b"\xf8\x88\x80\x80\x80"))
    at = value.find(b'":"') + 3 if b'":"' in value and rng.random() < 0.7 else rng.randrange(len(value) + 1)
    return value[:at] + junk + value[at:]


HEADER_SHAPES = (
    lambda rng: [("traceparent", b"00-" + bytes(rng.randrange(256) for _ in range(40)) + b"-01")],
    lambda rng: [("traceparent", b"00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-zzzzzzzzzzzzzzzz-zz")],
    lambda rng: [("traceparent", b"0" * 60_000), ("tracestate", b"=,=" * 5_000)],
    lambda rng: [("event-type", b"WorkloadSubmitted"), ("event-type", b"\xff\xfe\xfd")],
    lambda rng: [(f"h{i}", b"\x00" * 8) for i in range(300)],
    lambda rng: [("", b""), ("\u202e\u0000", b"\xc0\xaf")],
)


def hostile_headers(rng: random.Random) -> list[tuple[str, bytes]]:
    """Returns one of the hostile header sets: garbage or huge trace context, non-UTF-8 values, lying or
    repeated event types, hundreds of headers, empty and control-character names."""
    return rng.choice(HEADER_SHAPES)(rng)


def hostile_key(rng: random.Random, index: int) -> bytes:
    """Returns a key that is not an id: long, not UTF-8, or empty (never null: compacted topics refuse that)."""
    return rng.choice((b"k" * 4_096 + str(index).encode(), b"\xff\xfe" + str(index).encode(), b""))
