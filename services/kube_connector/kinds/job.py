"""batch/v1 Job labelled with a queue: one pod set ("main") of ``parallelism`` pods; the Job controller makes them."""

from __future__ import annotations

from typing import ClassVar

from services.kube_connector.kinds.base import JobKind, Outcome, Slot, annotations, condition_true, \
    controller_owner, min_count
from services.kube_connector.podsets import PodSetSource

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


class JobKindBatch(JobKind):
    kind: ClassVar[str] = "Job"
    group: ClassVar[str] = "batch"
    version: ClassVar[str] = "v1"
    plural: ClassVar[str] = "jobs"

    def max_runtime_s(self, obj: dict) -> int | None:
        return (obj.get("spec") or {}).get("activeDeadlineSeconds")

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        spec = obj.get("spec") or {}
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        count = min(parallelism, completions) if completions is not None else parallelism
        return [PodSetSource(name="main", template=spec.get("template") or {}, count=max(count, 1),
                             min_count=min_count(obj))]

    def owner_of(self, pod: dict) -> str | None:
        return controller_owner(pod, "Job")

    def slot_of(self, pod: dict) -> Slot | None:
        index = annotations(pod).get(COMPLETION_INDEX)
        return Slot("main", int(index) if index and index.isdigit() else None)

    def outcome(self, obj: dict) -> Outcome | None:
        if condition_true(obj, "Complete"):
            return "succeeded"
        if condition_true(obj, "Failed"):
            return "failed"
        return None
