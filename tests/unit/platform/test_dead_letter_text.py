"""A dead letter's error text is stored in PostgreSQL, which refuses NUL in text: an error quoting a hostile
field name with a NUL lost its record (and a batch service's whole poll batch) without a letter."""

from __future__ import annotations

import json

import pytest

from libs.events import DecodeError, decode
from libs.platform.consumer import storable


def test_an_error_quoting_a_nul_in_the_input_is_stored_without_nul():
    document = {"type": "NodeRepairTransitioned", "from_state": "healthy", "to_state": "nowhere\u0000",
                "reason": "x", "evidence": {"a\u0000b": 1}}
    with pytest.raises(DecodeError) as refused:
        decode(json.dumps(document).encode())
    assert "\x00" in refused.value.message  # pydantic's location names the hostile key
    stored = storable(refused.value.message)
    assert "\x00" not in stored and "a\\x00b" in stored


def test_text_without_nul_is_unchanged():
    text = "not-json: line 1 column 2 ('\\x00' as written)"
    assert storable(text) == text
