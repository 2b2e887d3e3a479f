"""The quota config's schema (pydantic, ADR 0018): unknown fields refused with their path; junk only ever
yields ConfigError; durations and sizes go through the one parser in libs/quota/quantity.py."""

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.quota.loader import ConfigError, load_config, load_documents
from libs.quota.quantity import QuantityError, parse_duration, parse_jvm_memory
from tests.support.junk import junk, spoil
from test_quota_loader import EVERY_KNOB

DOCS = [d for d in yaml.safe_load_all(EVERY_KNOB)]


@pytest.mark.parametrize(("kind", "path", "problem"), [
    ("ResourceFlavor", ("spec", "nodeTaints", 0), "ResourceFlavor spot: spec.nodeTaints[0].colour:"),
    ("Cohort", ("spec", "resourceGroups", 0, "flavors", 0, "resources", 0),
     "Cohort org: spec.resourceGroups[0].flavors[0].resources[0].colour:"),
    ("ClusterQueue", ("spec", "resourceGroups", 0, "flavors", 1),
     "ClusterQueue cq: spec.resourceGroups[0].flavors[1].colour:"),
    ("LocalQueue", ("spec",), "LocalQueue team/lq: spec.colour:"),
    ("WorkloadPriorityClass", (), "WorkloadPriorityClass high: colour:"),
    ("Configuration", ("waitForPodsReady", "requeuingStrategy"),
     "Configuration: waitForPodsReady.requeuingStrategy.colour:"),
])
def test_an_unknown_field_is_refused_with_its_path(kind, path, problem):
    docs = copy.deepcopy(DOCS)
    node = next(d for d in docs if d["kind"] == kind and (kind != "Cohort" or d["metadata"]["name"] == "org"))
    for step in path:
        node = node[step]
    node["colour"] = "red"
    with pytest.raises(ConfigError) as refused:
        load_documents(docs)
    assert f"{problem} not a Kueue field batchyard reads" in refused.value.problems, refused.value.problems


def test_a_bad_quantity_deep_in_a_queue_names_its_path():
    text = EVERY_KNOB.replace("{name: on-demand, resources: [{name: cpu, nominalQuota: 1}]}",
                              "{name: on-demand, resources: [{name: cpu, nominalQuota: lots}]}")
    with pytest.raises(ConfigError) as refused:
        load_config(text)
    assert refused.value.problems == ["ClusterQueue cq: spec.resourceGroups[0].flavors[1].resources[0].nominalQuota: "
                                      "'lots' is not a Kubernetes quantity"]


JUNK = junk("5m", "1Gi", "Any", "None", "", "-1", "1e999")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_junk_anywhere_yields_only_a_config_error(data):
    docs = list(DOCS)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(docs) - 1))
        docs[i] = spoil(data, docs[i], JUNK, depth_limit=6)
    try:
        load_documents(docs)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)


@given(st.text(max_size=40))
def test_junk_text_yields_only_a_config_error(text):
    try:
        load_config(text)
    except ConfigError:
        pass


@pytest.mark.parametrize(("text", "seconds"), [("250ms", 0.25), ("1.5h", 5400), ("2h45m30s", 9930), ("0", 0), (0, 0)])
def test_go_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "-1s", "", "h", "5m5", True, float("nan"), float("inf"), "9" * 400 + "h", None])
def test_what_is_not_a_duration_is_refused(text):
    with pytest.raises(QuantityError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [("512m", 512 << 20), ("2gb", 2 << 30), (3, 3)])
def test_jvm_memory_goes_through_the_quantity_parser(text, size):
    assert parse_jvm_memory(text) == size


@pytest.mark.parametrize("text", ["2x", "-1g", "1" * 40 + "p", True, None])
def test_what_is_not_a_jvm_memory_size_is_refused(text):
    with pytest.raises(QuantityError):
        parse_jvm_memory(text)
