"""The web view's query parameters: anything a user can put in a URL is parsed or refused with a reason code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.ui.params import BadParameter, ViewParams, parse_params


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param([], ViewParams(), id="none"),
    pytest.param([("queue", "acme-nlp"), ("pool", "a100"), ("days", "30")], ViewParams("acme-nlp", "a100", 30),
                 id="all"),
    pytest.param([("queue", ""), ("pool", " "), ("days", "")], ViewParams(), id="empty-form-fields"),
])
def test_parameters_parse(query, expected):
    assert parse_params(query) == expected


@pytest.mark.parametrize(("query", "reason"), [
    pytest.param([("days", "0")], "bad_days", id="zero-days"),
    pytest.param([("days", "367")], "bad_days", id="too-many-days"),
    pytest.param([("days", "1e3")], "bad_days", id="not-a-whole-number"),
    pytest.param([("days", "٣")], "bad_days", id="non-ascii-digit"),
    pytest.param([("queue", "a b")], "bad_queue", id="space-in-queue"),
    pytest.param([("pool", "<script>")], "bad_pool", id="markup-in-pool"),
    pytest.param([("sort", "x")], "unknown_parameter", id="unknown"),
    pytest.param([("days", "1"), ("days", "2")], "repeated_parameter", id="repeated"),
])
def test_bad_parameters_are_refused_with_a_reason(query, reason):
    with pytest.raises(BadParameter) as refused:
        parse_params(query)
    assert refused.value.reason == reason


@given(st.lists(st.tuples(st.sampled_from(["queue", "pool", "days", "x"]) | st.text(max_size=8), st.text())))
def test_any_query_is_parsed_or_refused_never_crashes(query):
    try:
        params = parse_params(query)
    except BadParameter as exc:
        assert exc.reason and str(exc)
    else:
        assert 1 <= params.days <= 366
        assert all(v is None or (v.isprintable() and " " not in v) for v in (params.queue, params.pool))
