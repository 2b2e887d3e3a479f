"""RayJob, PyTorchJob and SparkApplication (their real CRDs) labelled with a batchyard queue: suspended at creation,
submitted, resumed when placed, their pods (made here the way each operator labels them; no operator runs)
bound where the scheduler placed them, and the outcome taken from the object's own status."""

from __future__ import annotations

import json

import pytest

from tests.support.kube import IMAGE, KubePlatform, cpu_pool, get, pod_template, pods, small_fleet
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
QUEUE = {"batchyard.dev/queue": "default"}


def template(cpu: str = "1") -> dict:
    t = pod_template(cpu=cpu, run_s=None)
    t["spec"]["schedulerName"] = "batchyard"
    return t


def operator_pod(name: str, namespace: str, labels: dict, cpu: str = "1") -> dict:
    """A pod as the kind's operator would make it (its labels, batchyard as scheduler)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"schedulerName": "batchyard", "restartPolicy": "Never",
                     "containers": [{"name": "main", "image": IMAGE, "resources": {"requests": {"cpu": cpu}}}]}}


RAYJOB = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "tune", "namespace": "research",
                                                                    "labels": QUEUE},
          "spec": {"entrypoint": "python tune.py", "submissionMode": "HTTPMode", "rayClusterSpec": {
              "headGroupSpec": {"rayStartParams": {}, "template": template("2")},
              "workerGroupSpecs": [{"groupName": "cpu", "replicas": 2, "minReplicas": 1, "maxReplicas": 4,
                                    "rayStartParams": {}, "template": template("4")}]}}}
RAY_PODS = [("tune-head", {"ray.io/node-type": "head", "ray.io/group": "headgroup"}, "2"),
            ("tune-cpu-0", {"ray.io/node-type": "worker", "ray.io/group": "cpu"}, "4"),
            ("tune-cpu-1", {"ray.io/node-type": "worker", "ray.io/group": "cpu"}, "4")]
RAY_ORIGIN = {"ray.io/originated-from-crd": "RayJob", "ray.io/originated-from-cr-name": "tune"}

PYTORCHJOB = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
              "metadata": {"name": "bert", "namespace": "nlp", "labels": QUEUE},
              "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template("2")},
                                               "Worker": {"replicas": 2, "template": template("2")}}}}
TORCH_PODS = [(f"bert-{kind.lower()}-{i}", {"training.kubeflow.org/job-name": "bert",
                                            "training.kubeflow.org/replica-type": kind.lower(),
                                            "training.kubeflow.org/replica-index": str(i)}, "2")
              for kind, n in (("Master", 1), ("Worker", 2)) for i in range(n)]

SPARK = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
         "metadata": {"name": "etl", "namespace": "vision", "labels": QUEUE},
         "spec": {"type": "Scala", "mode": "cluster", "image": IMAGE, "sparkVersion": "3.5.0",
                  "mainApplicationFile": "local:///opt/etl.jar", "mainClass": "Etl",
                  "driver": {"cores": 1, "memory": "1g"}, "executor": {"instances": 2, "cores": 2, "memory": "2g"}}}
SPARK_PODS = [("etl-driver", {"sparkoperator.k8s.io/app-name": "etl", "spark-role": "driver"}, "1"),
              *[(f"etl-exec-{i}", {"sparkoperator.k8s.io/app-name": "etl", "spark-role": "executor"}, "2")
                for i in range(2)]]

CASES = [
    ("rayjob", RAYJOB, [(n, {**RAY_ORIGIN, **labels}, cpu) for n, labels, cpu in RAY_PODS],
     {"status": {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"}}, ("spec", "suspend")),
    ("pytorchjob", PYTORCHJOB, TORCH_PODS,
     {"status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Done", "message": "done",
                                 "lastTransitionTime": "2026-12-04T00:00:00Z"}]}}, ("spec", "runPolicy", "suspend")),
    ("sparkapplication", SPARK, SPARK_PODS, {"status": {"applicationState": {"state": "COMPLETED"}, "driverInfo": {}}},
     ("spec", "suspend")),
]


def dig(obj: dict, path: tuple[str, ...]):
    for key in path:
        obj = (obj or {}).get(key)
    return obj


async def test_each_operator_kind_runs_under_batchyard(kube, services, tmp_path):
    run = KubePlatform.start(services, small_fleet(cpu_pool(nodes=3)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    for _, obj, _, _, suspend in CASES:
        admitted = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", stdin=json.dumps(obj))
        assert dig(json.loads(admitted.stdout), suspend) is True, "the admission policy suspends it at creation"
        cluster.apply(stdin=json.dumps(obj))
    for case in CASES:  # one platform for the three kinds: each case on its own objects and namespace
        await _runs_under_batchyard(run, cluster, *case)


async def _runs_under_batchyard(run, cluster, resource, obj, operator_pods, done, suspend):
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]

    async def resumed():
        return dig(get(cluster, resource, name, "-n", namespace), suspend) is False
    assert await eventually(resumed, timeout=90, interval=0.5), run.platform.logs()
    for pod_name, labels, cpu in operator_pods:  # the operator makes its pods once resumed
        cluster.apply(stdin=json.dumps(operator_pod(pod_name, namespace, labels, cpu)))

    async def annotated(state):
        async def check():
            meta = get(cluster, resource, name, "-n", namespace)["metadata"]
            return (meta.get("annotations") or {}).get("batchyard.dev/state") == state
        return check
    assert await eventually(await annotated("Running"), timeout=60, interval=0.5), run.platform.logs()
    placed = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods(cluster, namespace)}
    assert all(placed.values()) and len(placed) == len(operator_pods), placed
    cluster.kubectl("patch", resource, name, "-n", namespace, "--subresource=status", "--type=merge",
                    "-p", json.dumps(done))
    assert await eventually(await annotated("Succeeded"), timeout=60, interval=0.5), run.platform.logs()


async def test_a_rayjob_whose_submitter_would_bypass_batchyard_is_refused_with_the_reason(kube, services, tmp_path):
    KubePlatform.start(services, small_fleet(cpu_pool(nodes=1)), kube, tmp_path)
    cluster = kube["onprem-dc1"]
    job = json.loads(json.dumps(RAYJOB))
    job["metadata"]["name"] = "tune-k8s-mode"
    del job["spec"]["submissionMode"]  # K8sJobMode: KubeRay's default submitter pod names no scheduler

    async def invalid():
        meta = get(cluster, "rayjob", "tune-k8s-mode", "-n", "research")["metadata"]
        annotations = meta.get("annotations") or {}
        return annotations.get("batchyard.dev/state") == "Invalid" and "submitter" in annotations.get(
            "batchyard.dev/message", "")
    cluster.apply(stdin=json.dumps(job))
    assert await eventually(invalid, timeout=60, interval=0.5)
