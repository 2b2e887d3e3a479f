"""KubeRay's RayJob (ray.io/v1): a head, worker groups and (in K8sJobMode) a submitter pod. KubeRay makes the pods
and labels them with the RayJob they come from."""

from __future__ import annotations

from typing import ClassVar

from services.kube_connector.kinds.base import JobKind, Outcome, Slot, controller_owner, label_of
from services.kube_connector.podsets import PodSetSource

ORIGIN_NAME, ORIGIN_KIND = "ray.io/originated-from-cr-name", "ray.io/originated-from-crd"
DEFAULT_SUBMITTER = {"spec": {"containers": [{"name": "ray-job-submitter", "image": "rayproject/ray",
                                              "resources": {"requests": {"cpu": "500m", "memory": "200Mi"}}}]}}


class RayJobKind(JobKind):
    kind: ClassVar[str] = "RayJob"
    group: ClassVar[str] = "ray.io"
    version: ClassVar[str] = "v1"
    plural: ClassVar[str] = "rayjobs"
    workload_kind: ClassVar[str] = "ray"

    def max_runtime_s(self, obj: dict) -> int | None:
        return (obj.get("spec") or {}).get("activeDeadlineSeconds")

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        spec = obj.get("spec") or {}
        cluster = spec.get("rayClusterSpec") or {}
        sets = [PodSetSource("head", (cluster.get("headGroupSpec") or {}).get("template") or {}, 1)]
        autoscaling = bool(cluster.get("enableInTreeAutoscaling"))
        for group in cluster.get("workerGroupSpecs") or ():
            hosts = max(group.get("numOfHosts", 1), 1)
            count = group.get("replicas", group.get("minReplicas", 1)) * hosts
            low = group.get("minReplicas", 0) * hosts if autoscaling else None
            sets.append(PodSetSource(str(group.get("groupName") or "workers").lower(), group.get("template") or {},
                                     max(count, 1), min_count=low if low and low < count else None))
        if spec.get("submissionMode", "K8sJobMode") == "K8sJobMode":
            sets.append(PodSetSource("submitter", spec.get("submitterPodTemplate") or DEFAULT_SUBMITTER, 1))
        return sets

    def owner_of(self, pod: dict) -> str | None:
        if label_of(pod, ORIGIN_KIND) == "RayJob":
            return label_of(pod, ORIGIN_NAME)
        return controller_owner(pod, "Job") if label_of(pod, "batch.kubernetes.io/job-name") else None

    def slot_of(self, pod: dict) -> Slot | None:
        if label_of(pod, "ray.io/node-type") == "head":
            return Slot("head")
        if group := label_of(pod, "ray.io/group"):
            return Slot(group.lower())
        return Slot("submitter")

    def outcome(self, obj: dict) -> Outcome | None:
        status = obj.get("status") or {}
        if status.get("jobStatus") == "SUCCEEDED" or status.get("jobDeploymentStatus") == "Complete":
            return "succeeded"
        if status.get("jobStatus") in ("FAILED", "STOPPED") or status.get("jobDeploymentStatus") == "Failed":
            return "failed"
        return None
