"""batchyard's own BatchJob (batchyard.dev/v1alpha1): pod sets with pod templates; batchyard creates the pods."""

from __future__ import annotations

from typing import ClassVar

from libs.events import TopologyRequest
from services.kube_connector.kinds.base import JobKind, Slot, label_of
from services.kube_connector.podsets import Invalid, PodSetSource

BATCHJOB_LABEL = "batchyard.dev/batchjob"  # on every pod batchyard creates for a BatchJob: the BatchJob's name
POD_SET_LABEL = "batchyard.dev/pod-set"
INDEX_LABEL = "batchyard.dev/pod-index"
ATTEMPT_LABEL = "batchyard.dev/attempt"
WORKLOAD_LABEL = "batchyard.dev/workload"  # the workload id, shortened to a label value (see runner.py)


class BatchJobKind(JobKind):
    kind: ClassVar[str] = "BatchJob"
    group: ClassVar[str] = "batchyard.dev"
    version: ClassVar[str] = "v1alpha1"
    plural: ClassVar[str] = "batchjobs"
    creates_pods: ClassVar[bool] = True
    suspendable: ClassVar[bool] = False  # batchyard makes its pods only once it is placed
    outcome_from_pods: ClassVar[bool] = True

    def managed(self, obj: dict) -> bool:
        return True

    def queue(self, obj: dict) -> str | None:
        return (obj.get("spec") or {}).get("queue") or super().queue(obj) or "default"

    def priority_class(self, obj: dict) -> str | None:
        return (obj.get("spec") or {}).get("priorityClass") or super().priority_class(obj)

    def max_runtime_s(self, obj: dict) -> int | None:
        return (obj.get("spec") or {}).get("maxRuntimeSeconds")

    def backoff_limit(self, obj: dict) -> int:
        return (obj.get("spec") or {}).get("backoffLimit", 0)

    def workload_kind_of(self, obj: dict) -> str:
        return (obj.get("spec") or {}).get("workloadKind") or "batch"

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        sources = []
        for i, ps in enumerate((obj.get("spec") or {}).get("podSets") or ()):
            topology = ps.get("topology")
            try:
                request = TopologyRequest.model_validate(topology) if topology else None
            except ValueError:
                raise Invalid("invalid_topology", f"spec.podSets[{i}].topology: {topology!r} is not "
                              "{level: zone|block|rack|host, mode: required|preferred}") from None
            sources.append(PodSetSource(name=ps.get("name") or "main", template=ps.get("template") or {},
                                        count=ps.get("count", 1), min_count=ps.get("minCount"), topology=request,
                                        gpu_model=ps.get("gpuModel")))
        return sources

    def suspended(self, obj: dict) -> bool:
        return False

    def owner_of(self, pod: dict) -> str | None:
        return label_of(pod, BATCHJOB_LABEL)

    def slot_of(self, pod: dict) -> Slot | None:
        pod_set, index = label_of(pod, POD_SET_LABEL), label_of(pod, INDEX_LABEL)
        if pod_set is None:
            return None
        return Slot(pod_set, int(index) if index and index.isdigit() else None)
