"""Kueue-shaped YAML → QuotaConfig, with every mistake reported at once."""

from pathlib import Path

import pytest

from libs.quota import PreemptionPolicy, QueueingStrategy, QuotaEngine, parse_quantity
from libs.quota.loader import ConfigError, load_config, parse_duration

EXAMPLE = Path(__file__).parents[3] / "deploy" / "quota" / "example.yaml"

CQ = """
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: default-flavor}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: cluster-queue}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: ["cpu", "memory", "pods"]
    flavors:
    - name: "default-flavor"
      resources:
      - {name: "cpu", nominalQuota: 9}
      - {name: "memory", nominalQuota: 36Gi}
      - {name: "pods", nominalQuota: 5}
"""


def test_the_kueue_sample_cluster_queue_loads():
    """The sample at the top of kueue.sigs.k8s.io/docs/concepts/cluster_queue/."""
    config = load_config(CQ)
    spec = config.cluster_queues["cluster-queue"]
    quotas = spec.resource_groups[0].flavors[0].resources
    assert (quotas["cpu"].nominal, quotas["memory"].nominal, quotas["pods"].nominal) == (9000, 36 * 2**30, 5)
    assert spec.queueing_strategy is QueueingStrategy.BEST_EFFORT_FIFO  # Kueue's default
    assert spec.preemption.within_cluster_queue is PreemptionPolicy.NEVER


def test_the_example_config_loads_and_runs():
    config = load_config(EXAMPLE.read_text())
    assert set(config.cluster_queues) == {"team-a", "team-b", "search-batch"}
    assert config.fair_sharing and config.timing.pods_ready_timeout_seconds == 600
    assert config.flavors["h100-aws-use1"].node_labels["batchyard.io/pool"] == "h100"
    assert config.priority_of("production") == 1000
    QuotaEngine(config).run_cycle(0)


@pytest.mark.parametrize(("patch", "problem"), [
    pytest.param(("default-flavor\"\n", "h200\"\n"), "spec.resourceGroups[0].flavors[0].name: flavor 'h200' is referenced but not defined",
                 id="unknown flavor"),
    pytest.param(("nominalQuota: 9}", "nominalQuota: lots}"), "is not a Kubernetes quantity", id="bad quantity"),
    pytest.param(("nominalQuota: 9}", "nominalQuota: 9, borrowingLimit: 1}"), "need a cohort", id="limit without cohort"),
    pytest.param(('"cpu", "memory", "pods"', '"cpu", "memory", "pods", "nvidia.com/gpu"'),
                 "no quota for covered resources ['nvidia.com/gpu']", id="covered resource without quota"),
    pytest.param(("namespaceSelector: {}", "queueingStrategy: Fastest"), "'Fastest' is not one of",
                 id="bad queueing strategy"),
    pytest.param(("namespaceSelector: {}", "preemption: {withinClusterQueue: Any}"), "Any is not allowed",
                 id="withinClusterQueue Any"),
    pytest.param(("namespaceSelector: {}", "preemption: {borrowWithinCohort: {policy: LowerPriority}}"),
                 "needs reclaimWithinCohort", id="borrowWithinCohort without reclaim"),
])
def test_mistakes_are_reported_with_where_they_are(patch, problem):
    with pytest.raises(ConfigError) as err:
        load_config(CQ.replace(*patch))
    assert any(p.startswith("ClusterQueue cluster-queue:") and problem in p for p in err.value.problems), \
        err.value.problems


def test_all_problems_at_once_and_tree_loops():
    text = """
kind: Cohort
metadata: {name: a}
spec: {parentName: b}
---
kind: Cohort
metadata: {name: b}
spec: {parentName: a}
---
kind: LocalQueue
metadata: {name: q, namespace: team}
spec: {clusterQueue: nowhere}
---
kind: Deployment
metadata: {name: x}
"""
    with pytest.raises(ConfigError) as err:
        load_config(text)
    problems = "\n".join(err.value.problems)
    assert "parent chain loops" in problems and "'nowhere' is not a ClusterQueue" in problems
    assert "kind 'Deployment' is not one of" in problems


def test_lending_limit_above_nominal_is_refused():
    text = CQ.replace("nominalQuota: 9}", "nominalQuota: 9, lendingLimit: 10}").replace(
        "namespaceSelector: {}", "cohort: c")
    with pytest.raises(ConfigError, match="lendingLimit exceeds nominalQuota"):
        load_config(text)


@pytest.mark.parametrize(("resource", "text", "amount"), [
    ("cpu", "500m", 500), ("cpu", "2", 2000), ("cpu", 1.5, 1500), ("memory", "36Gi", 36 * 2**30),
    ("memory", "1k", 1000), ("memory", "1e3", 1000), ("nvidia.com/gpu", 8, 8), ("pods", "0", 0),
])
def test_quantities(resource, text, amount):
    assert parse_quantity(resource, text) == amount


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), (45, 45), ("10s", 10)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
