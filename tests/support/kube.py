"""The Kubernetes side of integration tests: clusters reset between tests, objects written as a team would,
and the platform with one connector per cluster."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from libs.fleet.spec import FleetSpec, PoolSpec
from libs.localinfra.kube_fleet import set_up
from libs.localinfra.kube_session import KubeCluster
from libs.localinfra.processes import Platform

PLACING = ("admission", "quota", "scheduler")  # the services between a submission and its placement

IMAGE = "registry.batchyard.dev/batch/runner:1"
JOB_KINDS = ("batchjobs.batchyard.dev,jobs.batch,rayjobs.ray.io,pytorchjobs.kubeflow.org,"
             "sparkapplications.sparkoperator.k8s.io")


def reset(cluster: KubeCluster) -> None:
    """Deletes every job object, pod and node a test left behind (tests share the clusters)."""
    cluster.kubectl("delete", JOB_KINDS, "--all", "-A", "--wait=false", "--ignore-not-found")
    cluster.kubectl("delete", "pods", "-A", "--field-selector", "spec.schedulerName=batchyard", "--grace-period=0",
                    "--force", "--wait=false", "--ignore-not-found", check=False)
    cluster.kubectl("delete", "nodes", "--all", "--wait=false", "--ignore-not-found")


def pod_template(cpu: str = "1", memory: str = "1Gi", gpus: int = 0, run_s: float | None = 5.0,
                 fail_s: float | None = None, **spec) -> dict:
    """Returns a pod template for kwok: it runs ``run_s`` seconds then succeeds (or fails after ``fail_s``)."""
    annotations = {}
    if fail_s is not None:
        annotations["pod-fail.stage.kwok.x-k8s.io/delay"] = f"{fail_s}s"
    elif run_s is not None:
        annotations["pod-complete.stage.kwok.x-k8s.io/delay"] = f"{run_s}s"
    resources: dict = {"requests": {"cpu": cpu, "memory": memory}}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    return {"metadata": {"annotations": annotations},
            "spec": {"restartPolicy": "Never", **spec,
                     "containers": [{"name": "main", "image": IMAGE, "resources": resources}]}}


def batchjob(name: str, namespace: str, pod_sets: list[dict], **spec) -> dict:
    return {"apiVersion": "batchyard.dev/v1alpha1", "kind": "BatchJob",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"queue": "default", **spec,
                                                                         "podSets": pod_sets}}


def pod_set(name: str, count: int, template: dict, **extra) -> dict:
    return {"name": name, "count": count, "template": template, **extra}


def get(cluster: KubeCluster, *args: str) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def pods(cluster: KubeCluster, namespace: str) -> list[dict]:
    return get(cluster, "pods", "-n", namespace)["items"]


def state(cluster: KubeCluster, namespace: str, name: str) -> str | None:
    return (get(cluster, "batchjob", name, "-n", namespace).get("status") or {}).get("state")


def small_fleet(*pools: PoolSpec) -> FleetSpec:
    return FleetSpec(name="test", pools=pools)


def gpu_pool(name: str = "a100", nodes: int = 4, **overrides) -> PoolSpec:
    values = dict(name=name, cluster="onprem-dc1", zone="z1", instance_type="dgx-a100", nodes=nodes,
                  cpu_milli=128000, memory_mib=1048576, gpus=8, gpu_model="A100", nodes_per_rack=4,
                  racks_per_block=2, price_per_hour="9.60", pricing="on-prem-amortised")
    return PoolSpec(**{**values, **overrides})


def cpu_pool(name: str = "cpu", nodes: int = 4, **overrides) -> PoolSpec:
    values = dict(name=name, cluster="onprem-dc1", zone="z1", instance_type="r650", nodes=nodes, cpu_milli=64000,
                  memory_mib=262144, price_per_hour="0.90", pricing="on-prem-amortised")
    return PoolSpec(**{**values, **overrides})


@dataclass
class KubePlatform:
    """The core services as processes, plus one connector process per cluster of the fleet."""

    platform: Platform
    clusters: dict[str, KubeCluster]
    connector_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def start(cls, platform: Platform, fleet: FleetSpec, clusters: dict[str, KubeCluster], workdir: Path, *,
              services: tuple[str, ...] = PLACING, **options) -> "KubePlatform":
        """Starts ``services`` (by default those that decide where work runs; add node-repair or cost-reporting
        where a test needs them: every process costs the two cores seconds of start-up) and the connectors."""
        used = {c: clusters[c] for c in dict.fromkeys(p.cluster for p in fleet.pools)}
        env = set_up(fleet, used, workdir, **options)
        platform.start(services)
        run = cls(platform, used, env)
        for name in used:
            run.start_connector(name)
        return run

    def connector(self, cluster: str) -> str:
        return f"kube-connector-{cluster}"

    def start_connector(self, cluster: str) -> None:
        self.platform.start_as(self.connector(cluster), "kube-connector", self.connector_env[cluster])

    def stop(self) -> None:
        self.platform.stop()
