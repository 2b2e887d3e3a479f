"""Admission's policy file (services/admission/policy.py; pydantic, ADR 0018): unknown fields refused with their
path; junk anywhere only ever yields PolicyError."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.admission import PolicyError
from services.admission.policy import load_service_policy, parse_service_policy
from tests.support.junk import junk, spoil

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


JUNK = junk("low", "registry.batchyard.io", "-1")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_junk_anywhere_yields_only_a_policy_error(data):
    raw = POLICY
    for _ in range(data.draw(st.integers(1, 3))):
        raw = spoil(data, raw, JUNK)
    try:
        parse_service_policy(yaml.safe_dump(raw))
    except PolicyError:
        pass
