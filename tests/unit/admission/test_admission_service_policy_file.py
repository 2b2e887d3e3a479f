"""Admission's policy file (services/admission/policy.py; pydantic, ADR 0018): unknown fields refused with their
path; junk anywhere only ever yields PolicyError."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.admission import PolicyError
from services.admission.policy import load_service_policy, parse_service_policy

POLICY = yaml.safe_load((Path(__file__).resolve().parents[3] / "deploy" / "admission" / "policy.yaml").read_text())


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("priority_class: {low: 1}", "invalid policy: priority_class: unknown field", id="top-level"),
    pytest.param("tenants: {acme/vision: {job_limits: {max_gpu: 8}}}",
                 "invalid policy: tenants.acme/vision.job_limits.max_gpu: unknown field", id="nested"),
    pytest.param("priority_classes: {low: '1'}",
                 "invalid policy: priority_classes.low: Input should be a valid integer", id="table-value"),
    pytest.param("priority_classes: {Low: 1}", "invalid policy: priority_classes.Low[key]: String should match",
                 id="table-key"),
])
def test_a_bad_field_is_refused_with_its_path(text, problem):
    with pytest.raises(PolicyError) as refused:
        parse_service_policy(text)
    assert problem in str(refused.value)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    (tmp_path / "p.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_service_policy(tmp_path / "p.yaml")


JUNK = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                              st.text(max_size=8), st.sampled_from(["low", "registry.batchyard.io", "-1"])),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner,
                                                            max_size=3)),
                    max_leaves=8)


def spoil(data, tree, depth=0):
    """Returns ``tree`` with junk put at a random place (replacing a value, adding a key, replacing a list item)."""
    if isinstance(tree, dict) and tree and depth < 5:
        key = data.draw(st.sampled_from(sorted(tree, key=str) + ["junk-key"]))
        if key in tree and data.draw(st.booleans()):
            return {**tree, key: spoil(data, tree[key], depth + 1)}
        return {**tree, key: data.draw(JUNK)}
    if isinstance(tree, list) and tree and depth < 5:
        i = data.draw(st.integers(0, len(tree) - 1))
        return [*tree[:i], spoil(data, tree[i], depth + 1), *tree[i + 1:]]
    return data.draw(JUNK)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_junk_anywhere_yields_only_a_policy_error(data):
    raw = POLICY
    for _ in range(data.draw(st.integers(1, 3))):
        raw = spoil(data, raw)
    try:
        parse_service_policy(yaml.safe_dump(raw))
    except PolicyError:
        pass
