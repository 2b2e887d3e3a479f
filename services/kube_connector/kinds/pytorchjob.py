"""Kubeflow's PyTorchJob (kubeflow.org/v1): one pod set per replica type (master, worker)."""

from __future__ import annotations

from typing import ClassVar

from services.kube_connector.kinds.base import JobKind, Outcome, Slot, condition_true, label_of
from services.kube_connector.podsets import PodSetSource

JOB_NAME, REPLICA_TYPE, REPLICA_INDEX = ("training.kubeflow.org/job-name", "training.kubeflow.org/replica-type",
                                         "training.kubeflow.org/replica-index")


class PyTorchJobKind(JobKind):
    kind: ClassVar[str] = "PyTorchJob"
    group: ClassVar[str] = "kubeflow.org"
    version: ClassVar[str] = "v1"
    plural: ClassVar[str] = "pytorchjobs"
    workload_kind: ClassVar[str] = "pytorch"
    suspend_path: ClassVar[tuple[str, ...]] = ("spec", "runPolicy", "suspend")

    def max_runtime_s(self, obj: dict) -> int | None:
        return ((obj.get("spec") or {}).get("runPolicy") or {}).get("activeDeadlineSeconds")

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        replicas = (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}
        order = sorted(replicas, key=lambda name: (name != "Master", name))  # master first, as Kueue orders them
        return [PodSetSource(name.lower(), replicas[name].get("template") or {},
                             max(replicas[name].get("replicas", 1), 1)) for name in order]

    def owner_of(self, pod: dict) -> str | None:
        return label_of(pod, JOB_NAME)

    def slot_of(self, pod: dict) -> Slot | None:
        kind, index = label_of(pod, REPLICA_TYPE), label_of(pod, REPLICA_INDEX)
        if kind is None:
            return None
        return Slot(kind.lower(), int(index) if index and index.isdigit() else None)

    def outcome(self, obj: dict) -> Outcome | None:
        if condition_true(obj, "Succeeded"):
            return "succeeded"
        if condition_true(obj, "Failed"):
            return "failed"
        return None
