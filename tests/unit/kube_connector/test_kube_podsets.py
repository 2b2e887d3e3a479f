"""Pod templates and job kinds as pod sets: what a pod asks for is what the scheduler would count, each kind's
pods are found and numbered, and whatever an object holds, translation answers a PodSet or a reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kube_connector.config import ConnectorConfig, TenantRef
from services.kube_connector.kinds import KINDS
from services.kube_connector.kinds.base import Slot
from services.kube_connector.kinds.sparkapplication import jvm_bytes
from services.kube_connector.podsets import Invalid, PodSetSource, pod_set
from services.kube_connector.translate import label_value, spec_name, translate, workload_id

IMAGE = "registry.batchyard.dev/batch/runner:1"
CONFIG = ConnectorConfig(cluster="c1", signing_key_file="x", tenants={"nlp": TenantRef(org="acme", team="nlp")})


def container(**resources) -> dict:
    return {"name": "c", "image": IMAGE, "resources": resources}


def source(spec: dict, annotations: dict | None = None, count: int = 1) -> PodSetSource:
    return PodSetSource("main", {"metadata": {"annotations": annotations or {}}, "spec": spec}, count)


def test_a_pod_asks_the_sum_of_its_containers_or_its_largest_init_container_plus_overhead():
    spec = {"containers": [container(requests={"cpu": "500m", "memory": "1Gi"}),
                           container(requests={"cpu": "1", "memory": "512Mi"}, limits={"nvidia.com/gpu": "2"})],
            "initContainers": [container(requests={"cpu": "4", "memory": "256Mi"})],
            "overhead": {"cpu": "100m", "memory": "64Mi"}}
    got = pod_set(source(spec)).requests
    assert (got.cpu_milli, got.memory_mib, got.gpu) == (4100, 1600, 2)


def test_limits_stand_for_missing_requests_and_a_gpu_share_comes_from_the_annotation():
    spec = {"containers": [container(limits={"cpu": "2", "memory": "2Gi"})]}
    got = pod_set(source(spec, {"batchyard.dev/gpu-milli": "250"})).requests
    assert (got.cpu_milli, got.memory_mib, got.gpu, got.gpu_milli) == (2000, 2048, 0, 250)


def test_placement_constraints_and_risky_settings_are_carried_for_admission_and_the_scheduler():
    spec = {"containers": [container(requests={"cpu": "1"})], "hostNetwork": True,
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "disk": "ssd"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}
    got = pod_set(source(spec, {"kueue.x-k8s.io/podset-required-topology": "batchyard.dev/rack"}))
    assert got.gpu_model == "H100" and got.node_selector == {"disk": "ssd"}
    assert got.host_network and got.host_path and got.topology.level == "rack" and got.topology.mode == "required"
    assert got.tolerations[0].key == "gpu" and got.tolerations[0].value is None


@pytest.mark.parametrize("spec, reason", [
    ({"containers": []}, "invalid_pod_template"),
    ({"containers": [container(requests={"cpu": "lots"})]}, "invalid_quantity"),
    ({"containers": [container(limits={"nvidia.com/gpu": "65"})]}, "invalid_requests"),
])
def test_templates_batchyard_cannot_read_are_refused_with_a_reason(spec, reason):
    with pytest.raises(Invalid) as refused:
        pod_set(source(spec))
    assert refused.value.reason == reason


def test_an_unknown_topology_label_is_refused():
    with pytest.raises(Invalid, match="names no topology level"):
        pod_set(source({"containers": [container()]}, {"kueue.x-k8s.io/podset-required-topology": "my/label"}))


def obj(kind: str, spec: dict, **meta) -> dict:
    return {"kind": kind, "metadata": {"name": "job-1", "namespace": "nlp", "uid": "0123456789abcdef",
                                       "labels": {"batchyard.dev/queue": "default"}, **meta}, "spec": spec}


TEMPLATE = {"spec": {"schedulerName": "batchyard", "containers": [container(requests={"cpu": "1"})]}}


def test_each_kind_names_its_pod_sets():
    ray = obj("RayJob", {"rayClusterSpec": {"headGroupSpec": {"template": TEMPLATE}, "workerGroupSpecs": [
        {"groupName": "GPU", "replicas": 3, "numOfHosts": 2, "template": TEMPLATE}]}})
    torch = obj("PyTorchJob", {"pytorchReplicaSpecs": {"Worker": {"replicas": 4, "template": TEMPLATE},
                                                       "Master": {"replicas": 1, "template": TEMPLATE}}})
    spark = obj("SparkApplication", {"type": "Python", "image": IMAGE, "driver": {"cores": 1, "memory": "2g"},
                                     "executor": {"instances": 5, "cores": 2, "memory": "4g",
                                                  "gpu": {"name": "nvidia.com/gpu", "quantity": 1}}})
    job = obj("Job", {"parallelism": 8, "completions": 4, "template": TEMPLATE})
    assert [(s.name, s.count) for s in KINDS["RayJob"].pod_sets(ray)] == [("head", 1), ("gpu", 6), ("submitter", 1)]
    assert [(s.name, s.count) for s in KINDS["PyTorchJob"].pod_sets(torch)] == [("master", 1), ("worker", 4)]
    assert [(s.name, s.count) for s in KINDS["SparkApplication"].pod_sets(spark)] == [("driver", 1), ("executor", 5)]
    assert [(s.name, s.count) for s in KINDS["Job"].pod_sets(job)] == [("main", 4)]
    executor = translate(KINDS["SparkApplication"], spark, CONFIG).spec.pod_sets[1].requests
    assert (executor.cpu_milli, executor.memory_mib, executor.gpu) == (2000, 4096 + 1639, 1), "40% overhead (Python)"


@pytest.mark.parametrize("kind, patch", [
    ("Job", {"spec": {"suspend": True}}), ("RayJob", {"spec": {"suspend": True}}),
    ("SparkApplication", {"spec": {"suspend": True}}), ("PyTorchJob", {"spec": {"runPolicy": {"suspend": True}}})])
def test_each_kind_suspends_where_its_controller_looks(kind, patch):
    assert KINDS[kind].suspend_patch(True) == patch
    assert KINDS[kind].suspended(patch) and not KINDS[kind].suspended({"spec": {}})


@pytest.mark.parametrize("kind, labels, annotations, owner, slot", [
    ("Job", {}, {"batch.kubernetes.io/job-completion-index": "3"}, "job-1", Slot("main", 3)),
    ("RayJob", {"ray.io/originated-from-crd": "RayJob", "ray.io/originated-from-cr-name": "job-1",
                "ray.io/group": "GPU"}, {}, "job-1", Slot("gpu")),
    ("PyTorchJob", {"training.kubeflow.org/job-name": "job-1", "training.kubeflow.org/replica-type": "Worker",
                    "training.kubeflow.org/replica-index": "2"}, {}, "job-1", Slot("worker", 2)),
    ("SparkApplication", {"sparkoperator.k8s.io/app-name": "job-1", "spark-role": "executor"}, {}, "job-1",
     Slot("executor")),
    ("BatchJob", {"batchyard.dev/batchjob": "job-1", "batchyard.dev/pod-set": "w", "batchyard.dev/pod-index": "7"},
     {}, "job-1", Slot("w", 7)),
])
def test_each_kind_finds_its_pods_and_their_places(kind, labels, annotations, owner, slot):
    pod = {"metadata": {"name": "p", "labels": labels, "annotations": annotations,
                        "ownerReferences": [{"kind": "Job", "name": "job-1", "controller": True}]}, "spec": {}}
    assert KINDS[kind].owner_of(pod) == owner and KINDS[kind].slot_of(pod) == slot


def test_translation_refuses_unmapped_namespaces_and_pods_another_scheduler_would_bind():
    job = obj("Job", {"template": {"spec": {"containers": [container()]}}})
    with pytest.raises(Invalid) as refused:
        translate(KINDS["Job"], job, CONFIG)
    assert refused.value.reason == "wrong_scheduler" and "default-scheduler" in refused.value.message
    stranger = obj("Job", {"template": TEMPLATE}, namespace="strangers")
    with pytest.raises(Invalid, match="belongs to no batchyard team"):
        translate(KINDS["Job"], stranger, CONFIG)


def test_workload_ids_are_stable_readable_and_fit_labels():
    o = obj("BatchJob", {})
    assert workload_id("c1", o) == "c1.nlp.job-1.01234567" == workload_id("c1", o)
    long = "w" * 200
    assert len(label_value(long)) == 63 and label_value(long) != label_value(long[:-1] + "x")
    assert spec_name("My_Job.V2") == "my_job.v2" and spec_name("---") == "workload"


@pytest.mark.parametrize("text, size", [("512m", 512 << 20), ("2g", 2 << 30), ("1024k", 1 << 20), ("3", 3)])
def test_spark_memory_is_jvm_sized(text, size):
    assert jvm_bytes(text) == size


json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=12)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                          max_leaves=20)
resources = st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]),
                            st.one_of(st.sampled_from(["1", "100m", "2Gi", "-1", "x", "1e30"]), st.integers(-2, 99)))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), spec=st.dictionaries(st.sampled_from(
    ["podSets", "template", "parallelism", "completions", "rayClusterSpec", "pytorchReplicaSpecs", "driver",
     "executor", "queue", "suspend"]), json_value, max_size=5),
    requests=resources, count=st.integers(-3, 20000))
def test_whatever_an_object_holds_translation_answers_a_spec_or_a_reason(kind, spec, requests, count):
    template = {"spec": {"schedulerName": "batchyard", "containers": [container(requests=requests)]}}
    if kind == "BatchJob":
        spec = {**spec, "podSets": [{"name": "main", "count": count, "template": template}]}
    elif kind == "Job":
        spec = {**spec, "parallelism": count, "template": template}
    try:
        got = translate(KINDS[kind], obj(kind, spec), CONFIG)
    except Invalid as refused:
        assert refused.reason and refused.message
    else:
        assert got.spec.pod_sets and got.workload_id.startswith("c1.nlp.")
        assert all(ps.node_selector["batchyard.dev/cluster"] == "c1" for ps in got.spec.pod_sets), "pinned home"


def plain_pod(name: str, uid: str, group: str | None = None, total: int | None = None, created: str = "t1") -> dict:
    labels = {"batchyard.dev/queue": "default", **({"batchyard.dev/pod-group": group} if group else {})}
    annotations = {"batchyard.dev/pod-group-total-count": str(total)} if total else {}
    return {"metadata": {"name": name, "namespace": "nlp", "uid": uid, "labels": labels, "annotations": annotations,
                         "creationTimestamp": created}, "spec": TEMPLATE["spec"]}


def test_plain_pods_are_workloads_of_one_and_a_group_is_one_gang_once_whole():
    from services.kube_connector.kinds.pod import PodGroups
    groups = PodGroups()
    single = groups.changed("ADDED", plain_pod("solo", "u0"))
    assert single[1]["metadata"]["name"] == "solo" and single[1]["metadata"]["uid"] == "u0"
    assert groups.changed("ADDED", plain_pod("g-1", "u2", "g", 3, "t2")) is None
    assert groups.changed("ADDED", plain_pod("g-0", "u1", "g", 3, "t1")) is None
    change, whole = groups.changed("ADDED", plain_pod("g-2", "u3", "g", 3, "t3"))
    assert [p["metadata"]["name"] for p in whole["pods"]] == ["g-0", "g-1", "g-2"]
    assert whole["metadata"]["uid"] == "u1", "the oldest pod's uid names the group"
    got = translate(KINDS["Pod"], whole, CONFIG)
    assert [(ps.name, ps.count) for ps in got.spec.pod_sets] == [("main", 3)]
    assert groups.changed("DELETED", plain_pod("g-0", "u1", "g", 3)) is None, "the group lives while a pod does"
    groups.changed("DELETED", plain_pod("g-1", "u2", "g", 3))
    change, gone = groups.changed("DELETED", plain_pod("g-2", "u3", "g", 3))
    assert change == "DELETED" and gone["metadata"]["uid"] == "u1"
    assert KINDS["Pod"].owner_of(plain_pod("g-2", "u3", "g", 3)) == "g" and not KINDS["Pod"].suspendable
