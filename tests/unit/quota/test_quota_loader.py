"""Kueue-shaped YAML → QuotaConfig, with every mistake reported at once."""

from pathlib import Path

import pytest

from libs.quota import (AdmissionFairSharing, PreemptionPolicy, QueueingStrategy, QuotaEngine, ResourceQuota, Timing,
                        parse_quantity)
from libs.quota.loader import ConfigError, load_config, parse_duration
from libs.quota.quantity import QuantityError

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


@pytest.mark.parametrize(("text", "why"), [
    ("NaN", "not a finite"), ("Infinity", "not a finite"), ("-inf", "not a finite"), ("1e999999999", "larger than"),
    ("10E", "larger than"), ("-1", "negative"), ("4 GPUs", "not a Kubernetes quantity"),
])
def test_quantities_that_are_not_resources_are_refused(text, why):
    """Not a crash (OverflowError) nor a hang building a billion-digit integer: a clear refusal."""
    with pytest.raises(QuantityError, match=why):
        parse_quantity("memory", text)


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), (45, 45), ("10s", 10)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


EVERY_KNOB = """
kind: ResourceFlavor
metadata: {name: spot}
spec:
  nodeLabels: {pool: spot}
  nodeTaints: [{key: spot, value: "true", effect: NoSchedule}]
  tolerations: [{key: spot, operator: Exists}]
---
kind: ResourceFlavor
metadata: {name: on-demand}
---
kind: Cohort
metadata: {name: root}
---
kind: Cohort
metadata: {name: org}
spec:
  parentName: root
  fairSharing: {weight: 2}
  resourceGroups:
  - coveredResources: [cpu]
    flavors: [{name: spot, resources: [{name: cpu, nominalQuota: 4, borrowingLimit: 1, lendingLimit: 2}]}]
---
kind: ClusterQueue
metadata: {name: cq}
spec:
  namespaceSelector: {}
  cohortName: org
  queueingStrategy: StrictFIFO
  stopPolicy: None
  fairSharing: {weight: 3}
  admissionScope: {admissionMode: UsageBasedAdmissionFairSharing}
  preemption:
    withinClusterQueue: LowerOrNewerEqualPriority
    reclaimWithinCohort: Any
    borrowWithinCohort: {policy: LowerPriority, maxPriorityThreshold: 5}
  flavorFungibility: {whenCanBorrow: TryNextFlavor, whenCanPreempt: TryNextFlavor, preference: PreemptionOverBorrowing}
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - {name: spot, resources: [{name: cpu, nominalQuota: 8, borrowingLimit: 2, lendingLimit: 4}]}
    - {name: on-demand, resources: [{name: cpu, nominalQuota: 1}]}
---
kind: LocalQueue
metadata: {name: lq, namespace: team}
spec: {clusterQueue: cq, fairSharing: {weight: 4}}
---
kind: WorkloadPriorityClass
metadata: {name: high}
value: 100
---
kind: Configuration
fairSharing: {enable: true, preemptionStrategies: [LessThanInitialShare]}
admissionFairSharing: {usageHalfLifeTime: 1h, usageSamplingInterval: 30s, resourceWeights: {cpu: 2}}
waitForPodsReady:
  enable: true
  timeout: 2m
  requeuingStrategy: {timestamp: Creation, backoffBaseSeconds: 5, backoffMaxSeconds: 60}
minimumRuntimeBeforePreemption: 10m
"""


def test_every_supported_knob_is_read():
    """Each field docs/quota.md's Kueue compatibility table calls supported reaches the config."""
    c = load_config(EVERY_KNOB)
    spot = c.flavors["spot"]
    assert (dict(spot.node_labels), [(t.key, t.value, t.effect) for t in spot.node_taints],
            [(t.key, t.operator) for t in spot.tolerations]) == ({"pool": "spot"}, [("spot", "true", "NoSchedule")],
                                                                 [("spot", "Exists")])
    org, cq = c.cohorts["org"], c.cluster_queues["cq"]
    assert (org.parent, org.fair_weight) == ("root", 2.0)
    assert org.resource_groups[0].flavors[0].resources["cpu"] == ResourceQuota(4000, 1000, 2000)
    assert (cq.cohort, cq.queueing_strategy, cq.hold, cq.fair_weight, cq.admission_fair_sharing) == (
        "org", QueueingStrategy.STRICT_FIFO, False, 3.0, True)
    p = cq.preemption
    assert (p.within_cluster_queue, p.reclaim_within_cohort, p.borrow_within_cohort.policy,
            p.borrow_within_cohort.max_priority_threshold) == (
        PreemptionPolicy.LOWER_OR_NEWER_EQUAL_PRIORITY, PreemptionPolicy.ANY, PreemptionPolicy.LOWER_PRIORITY, 5)
    f = cq.flavor_fungibility
    assert (f.when_can_borrow.value, f.when_can_preempt.value, f.preference.value) == (
        "TryNextFlavor", "TryNextFlavor", "PreemptionOverBorrowing")
    assert cq.resource_groups[0].flavors[0].resources["cpu"] == ResourceQuota(8000, 2000, 4000)
    assert c.local_queues[("team", "lq")].fair_weight == 4.0 and c.priority_classes == {"high": 100}
    assert c.fair_sharing and [s.value for s in c.fair_preemption_strategies] == ["LessThanInitialShare"]
    assert c.admission_fair_sharing == AdmissionFairSharing(3600.0, 30.0, {"cpu": 2.0})
    assert c.timing == Timing(5.0, 60.0, 120.0, 600.0, order_by_eviction=False)


@pytest.mark.parametrize(("old", "new"), [("whenCanBorrow: TryNextFlavor", "whenCanBorrow: Borrow"),
                                          ("whenCanPreempt: TryNextFlavor", "whenCanPreempt: Preempt")])
def test_v1beta1_fungibility_names_are_read_as_may_stop_search(old, new):
    text = EVERY_KNOB.replace(", preference: PreemptionOverBorrowing", "").replace(old, new)
    f = load_config(text).cluster_queues["cq"].flavor_fungibility
    assert "MayStopSearch" in (f.when_can_borrow.value, f.when_can_preempt.value)


@pytest.mark.parametrize(("patch", "problem"), [
    pytest.param(("namespaceSelector: {}", "namespaceSelector: {matchLabels: {team: a}}"),
                 "ClusterQueue cq: spec.namespaceSelector: not supported", id="namespaceSelector"),
    pytest.param(("namespaceSelector: {}", "admissionChecks: [prov]"),
                 "ClusterQueue cq: spec.admissionChecks: not supported", id="admissionChecks"),
    pytest.param(("  nodeLabels: {pool: spot}", "  nodeLabels: {pool: spot}\n  topologyName: default"),
                 "ResourceFlavor spot: spec.topologyName: not supported", id="topologyName"),
    pytest.param(("spec: {clusterQueue: cq,", "spec: {stopPolicy: Hold, clusterQueue: cq,"),
                 "LocalQueue team/lq: spec.stopPolicy: not supported", id="LocalQueue stopPolicy"),
    pytest.param(("timestamp: Creation", "timestamp: Admission"),
                 "requeuingStrategy.timestamp: 'Admission' is not one of", id="requeuing timestamp"),
    pytest.param(("timeout: 2m", "timeout: 2m\n  blockAdmission: true"),
                 "waitForPodsReady.blockAdmission: not supported", id="blockAdmission"),
    pytest.param(("timeout: 2m", "timeout: 2m\n  recoveryTimeout: 3m"),
                 "waitForPodsReady.recoveryTimeout: not supported", id="recoveryTimeout"),
    pytest.param(("backoffMaxSeconds: 60}", "backoffMaxSeconds: 60, backoffLimitCount: 3}"),
                 "requeuingStrategy.backoffLimitCount: not supported", id="backoffLimitCount"),
    pytest.param(("timeout: 2m", "timeout: 2m\n  timout: 3m"),
                 "waitForPodsReady.timout: not a Kueue field", id="misspelt waitForPodsReady field"),
    pytest.param(("preference: PreemptionOverBorrowing", "preference: Cheapest"),
                 "spec.flavorFungibility.preference: 'Cheapest' is not one of", id="preference"),
    pytest.param(("whenCanBorrow: TryNextFlavor", "whenCanBorrow: MayStopSearch"),
                 "preference: may be set only when", id="preference needs TryNextFlavor"),
])
def test_unsupported_or_bad_knobs_are_refused(patch, problem):
    """A Kueue field batchyard does not implement is refused, not silently ignored."""
    with pytest.raises(ConfigError) as err:
        load_config(EVERY_KNOB.replace(*patch))
    assert any(problem in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize(("policy", "hold"), [("None", False), ("Hold", True), ("HoldAndDrain", True)])
def test_stop_policy(policy, hold):
    """HoldAndDrain is read as Hold (docs/quota.md, Kueue compatibility): the core never evicts on its own."""
    config = load_config(EVERY_KNOB.replace("stopPolicy: None", f"stopPolicy: {policy}"))
    assert config.cluster_queues["cq"].hold is hold
