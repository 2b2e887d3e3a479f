"""The scheduler's policy file (pydantic, ADR 0018): unknown fields refused with their path; junk anywhere only
ever yields PolicyError."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scheduler.policy import PolicyError, load_policy, policy_from_dict

POLICY = yaml.safe_load((Path(__file__).resolve().parents[3] / "deploy" / "scheduler" / "policy.yaml").read_text())


@pytest.mark.parametrize(("patch", "problem"), [
    pytest.param({"fgd_stranding_": True}, "p.yaml: fgd_stranding_: unknown field", id="top-level"),
    pytest.param({"typical_pods": [{"cpu_milli": 1, "popularity": 1}, {"popularty": 0.5, "popularity": 0.5}]},
                 "p.yaml: typical_pods[1].popularty: unknown field", id="in-a-typical-pod"),
    pytest.param({"typical_pods": [{"cpu_milli": "8000", "popularity": 1}]},
                 "p.yaml: typical_pods[0].cpu_milli: Input should be a valid integer", id="wrong-type"),
    pytest.param({"pools": {"l4": "fastest"}}, "p.yaml: pools.l4: 'fastest' is not a placement strategy",
                 id="strategy"),
])
def test_a_bad_field_is_refused_with_its_path(patch, problem):
    with pytest.raises(PolicyError) as refused:
        policy_from_dict({**POLICY, **patch}, "p.yaml")
    assert problem in str(refused.value)


def test_a_file_that_is_not_a_mapping_or_not_text_is_refused(tmp_path):
    (tmp_path / "list.yaml").write_text("[binpack]")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    for name in ("list.yaml", "bin.yaml"):
        with pytest.raises(PolicyError, match=name):
            load_policy(tmp_path / name)


JUNK = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                              st.text(max_size=8), st.sampled_from(["fgd", "binpack", "-1", "1e999"])),
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
        policy_from_dict(raw, "p.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("p.yaml: ")
