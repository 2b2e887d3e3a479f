"""The scheduler's policy file (pydantic, ADR 0018): unknown fields refused with their path; junk anywhere only
ever yields PolicyError."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.placement.policy_file import PolicyError, load_policy, policy_from_dict
from tests.support.junk import junk, spoil

POLICY = yaml.safe_load((Path(__file__).resolve().parents[3] / "deploy" / "scheduler" / "policy.yaml").read_text())


@pytest.mark.parametrize(("patch", "problem"), [
    pytest.param({"fgd_stranding_": True}, "p.yaml: fgd_stranding_: unknown field", id="top-level"),
    pytest.param({"typical_pods": [{"cpu_milli": 1, "popularity": 1}, {"popularty": 0.5, "popularity": 0.5}]},
                 "p.yaml: typical_pods[1].popularty: unknown field", id="in-a-typical-pod"),
    pytest.param({"typical_pods": [{"cpu_milli": "8000", "popularity": 1}]},
                 "p.yaml: typical_pods[0].cpu_milli: Input should be a valid integer", id="wrong-type"),
    pytest.param({"pools": {"l4": "fastest"}}, "p.yaml: pools.l4: 'fastest' is not a placement strategy",
                 id="strategy"),
    pytest.param({"typical_pods_half_life_s": 0}, "p.yaml: typical_pods_half_life_s: Input should be greater than 0",
                 id="half-life"),
    pytest.param({"typical_pods_min_pods": -1},
                 "p.yaml: typical_pods_min_pods: Input should be greater than or equal to 0", id="min-pods"),
    pytest.param({"fgd_packing_gpus": "yes"}, "p.yaml: fgd_packing_gpus must be true or false, got 'yes'",
                 id="packing-gpus"),
    pytest.param({"fgd_packing_constrained": -5}, "p.yaml: fgd_packing_constrained must be a finite number of milli",
                 id="packing-constrained"),
    pytest.param({"fgd_stranding_scarce": 1}, "p.yaml: fgd_stranding_scarce must be true or false, got 1",
                 id="stranding-scarce"),
    pytest.param({"fgd_scarcity": "no"}, "p.yaml: fgd_scarcity must be true or false, got 'no'", id="scarcity"),
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


JUNK = junk("fgd", "binpack", "-1", "1e999")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_junk_anywhere_yields_only_a_policy_error(data):
    raw = POLICY
    for _ in range(data.draw(st.integers(1, 3))):
        raw = spoil(data, raw, JUNK)
    try:
        policy_from_dict(raw, "p.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("p.yaml: ")


def test_the_shipped_policy_learns_its_typical_pods_and_a_policy_without_fgd_learns_nothing():
    from libs.placement.policy_file import load_policy
    shipped = load_policy("deploy/scheduler/policy.yaml")
    assert (shipped.learn_typical, shipped.typical_half_life_s, shipped.typical_min_pods) == (True, 86400.0, 200)
    assert not policy_from_dict({"default": "binpack", "learn_typical_pods": True}, "p.yaml").learn_typical
    assert not policy_from_dict({**POLICY, "learn_typical_pods": False}, "p.yaml").learn_typical


def test_packing_by_gpus_is_read_from_the_file():
    assert policy_from_dict({**POLICY, "fgd_packing_gpus": True}, "p.yaml").fgd_packing_gpus
    assert not policy_from_dict({k: v for k, v in POLICY.items() if k != "fgd_packing_gpus"}).fgd_packing_gpus


def test_the_shipped_prior_is_the_generic_mix_with_whole_node_pods():
    """Until the scheduler has learned a mix, it keeps whole nodes whole: the pods placed first may run for months,
    and a prior without 8-GPU shapes spread them over every node (the openb replay with departures)."""
    from libs.placement.policy_file import DEFAULT_TYPICAL_PODS, load_policy
    shipped = load_policy("deploy/scheduler/policy.yaml")
    assert shipped.typical_pods == DEFAULT_TYPICAL_PODS
    assert max(p.gpu_count for p in shipped.typical_pods) == 8


def test_constrained_packing_is_read_from_the_file_and_on_by_default():
    from libs.placement.policy_file import FGD_PACKING_CONSTRAINED
    assert load_policy("deploy/scheduler/policy.yaml").fgd_packing_constrained == 500.0
    assert policy_from_dict({**POLICY, "fgd_packing_constrained": 0}, "p.yaml").fgd_packing_constrained == 0.0
    rest = {k: v for k, v in POLICY.items() if k != "fgd_packing_constrained"}
    assert policy_from_dict(rest, "p.yaml").fgd_packing_constrained == FGD_PACKING_CONSTRAINED


def test_scarce_cpu_stranding_is_read_from_the_file_and_on_by_default():
    assert load_policy("deploy/scheduler/policy.yaml").fgd_stranding_scarce is True
    assert policy_from_dict({**POLICY, "fgd_stranding_scarce": False}, "p.yaml").fgd_stranding_scarce is False
    rest = {k: v for k, v in POLICY.items() if k != "fgd_stranding_scarce"}
    assert policy_from_dict(rest, "p.yaml").fgd_stranding_scarce is True


def test_scarcity_weights_are_read_from_the_file_and_on_by_default():
    assert load_policy("deploy/scheduler/policy.yaml").fgd_scarcity is True
    assert policy_from_dict({**POLICY, "fgd_scarcity": False}, "p.yaml").fgd_scarcity is False
    rest = {k: v for k, v in POLICY.items() if k != "fgd_scarcity"}
    assert policy_from_dict(rest, "p.yaml").fgd_scarcity is True
