"""What ``batchyard submit`` accepts: the shipped examples, and job files with mistakes in them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.submit import SubmitError, load_spec, signed_submission, signer_from_env

EXAMPLES = Path(__file__).parents[3] / "examples"
KINDS = ("batch", "spark", "ray", "pytorch", "llm-inference")
BASE = {"name": "train", "pod_sets": [{"name": "main", "count": 2, "requests": {"gpu": 1},
                                       "tolerations": [{"key": "gpu"}], "topology": {"level": "rack"}}]}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_an_example_that_loads_and_signs(kind):
    spec = load_spec(EXAMPLES / f"{kind}.yaml")
    assert spec.kind == kind
    signer = signer_from_env(org="acme", team="nlp", key_file=str(EXAMPLES / "signing-key.yaml"), subject="test")
    assert signed_submission(spec, org="acme", team="nlp", signer=signer).token


def test_examples_are_exactly_one_per_kind_and_a_key():
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted([*KINDS, "signing-key"])


@pytest.mark.parametrize("where, field", [
    pytest.param((), "gpus", id="top-level"),
    pytest.param(("pod_sets", 0), "replicas", id="pod-set"),
    pytest.param(("pod_sets", 0, "requests"), "gpus", id="requests"),
    pytest.param(("pod_sets", 0, "tolerations", 0), "operator", id="toleration"),
    pytest.param(("pod_sets", 0, "topology"), "levels", id="topology"),
])
def test_an_unknown_field_is_refused_with_its_path(tmp_path, where, field):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    target = document
    for step in where:
        target = target[step]
    target[field] = 4
    with pytest.raises(SubmitError) as refused:
        load_spec(write(tmp_path, document))
    assert f"{'.'.join(map(str, (*where, field)))}: unknown field" in str(refused.value)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gpu=st.integers(max_value=-1), count=st.integers(min_value=1, max_value=3))
def test_a_negative_gpu_count_is_the_only_error(tmp_path, gpu, count):
    document = {"name": "train", "pod_sets": [{"name": f"p{i}", "count": 1, "requests": {"gpu": gpu}}
                                              for i in range(count)]}
    with pytest.raises(SubmitError) as refused:
        load_spec(write(tmp_path, document))
    problems = str(refused.value).split("invalid workload: ")[1].split("; ")
    assert problems == [f"pod_sets.{i}.requests.gpu: Input should be greater than or equal to 0"
                        for i in range(count)]
