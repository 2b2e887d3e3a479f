"""The node-repair policy file: the core's fields by name, durations in seconds, and every mistake refused with
the field's path (never another exception, never a value silently dropped)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.repair import RepairConfig
from services.node_repair.config import RepairConfigError, load_repair_config, parse_repair_config

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=8),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
FIELDS = st.sampled_from(["heartbeat_timeout_s", "disk_full_percent", "pool_max_out", "min_out", "rate_window_s",
                          "heartbeat_timeout", "nonsense"])


def test_the_shipped_policies_load_with_their_values():
    config = load_repair_config("deploy/fleet/repair.yaml")
    assert config.diagnosis.heartbeat_timeout == timedelta(seconds=14400)
    assert (config.safety.pool_max_out, config.safety.domain_max_out) == (Fraction(1, 5), Fraction(1, 4))
    assert config.safety.max_drain_grace == timedelta(hours=2) and config.safety.min_out == 1
    assert load_repair_config("deploy/fleet/repair-storm.yaml").safety.pool_max_out == Fraction(1, 10)
    assert parse_repair_config(None, "empty") == RepairConfig()
    assert config.diagnosis.cluster_unreachable_after == timedelta(seconds=7200)
    assert RepairConfig().diagnosis.cluster_unreachable_after == timedelta(seconds=60)


@pytest.mark.parametrize(("doc", "words"), [
    ({"safety": {"pool_max_outt": 0.5}}, "p.yaml: safety.pool_max_outt: unknown field"),
    ({"safty": {}}, "p.yaml: safty: unknown field"),
    ({"diagnosis": {"heartbeat_timeout_s": "soon"}}, "diagnosis.heartbeat_timeout_s: Input should be a valid number"),
    ({"diagnosis": {"heartbeat_timeout_s": 0}}, "diagnosis.heartbeat_timeout_s: Input should be greater than 0"),
    ({"diagnosis": {"heartbeat_timeout": 300}}, "diagnosis.heartbeat_timeout: unknown field"),  # seconds say _s
    ({"safety": {"pool_max_out": 1.5}}, "safety.pool_max_out: Input should be less than or equal to 1"),
    ({"safety": {"min_out": 1.5}}, "safety.min_out: Input should be a valid integer"),
    ({"safety": {"min_out": -1}}, "safety.min_out: Input should be greater than or equal to 0"),
    ([1, 2], "p.yaml: <file>: Input should be a valid dictionary"),
    ({"diagnosis": {"heartbeat_timeout_s": 30}},  # the default 60 s cluster grace would come after the nodes'
     "diagnosis.cluster_unreachable_after_s (60) must be shorter than diagnosis.heartbeat_timeout_s (30)"),
])
def test_a_mistake_is_refused_with_its_path(doc, words):
    with pytest.raises(RepairConfigError) as refused:
        parse_repair_config(doc, "p.yaml")
    assert words in str(refused.value), str(refused.value)


def test_a_binary_file_is_refused_in_words(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RepairConfigError, match="not UTF-8"):
        load_repair_config(path)


@given(section=st.sampled_from(["diagnosis", "safety"]), field=FIELDS, value=VALUES)
def test_any_value_in_any_field_gives_a_policy_or_a_refusal(section, field, value):
    try:
        config = parse_repair_config({section: {field: value}}, "p.yaml")
    except RepairConfigError as exc:
        assert str(exc).startswith("p.yaml: ")
    else:
        assert isinstance(config, RepairConfig)
