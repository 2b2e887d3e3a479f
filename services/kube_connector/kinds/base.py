"""One adapter per job kind, after Kueue's job framework: a kind says where its pod sets are, how to suspend
and resume it, which pods are its own (and which pod set and index each one fills) and when it is done.

Every function here is pure: it reads the object (and pods) as dicts from the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from services.kube_connector.podsets import PodSetSource

QUEUE_LABEL = "batchyard.dev/queue"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # accepted too, so Kueue users' manifests run unchanged
PRIORITY_LABEL = "batchyard.dev/priority-class"
MIN_COUNT = "batchyard.dev/min-count"
KUEUE_MIN_PARALLELISM = "kueue.x-k8s.io/job-min-parallelism"
Outcome = Literal["succeeded", "failed"]


@dataclass(frozen=True)
class Slot:
    """Which pod of a workload a pod is: its pod set and, when the kind numbers its pods, its index."""

    pod_set: str
    index: int | None = None


class JobKind:
    """The generic job: subclasses set the API coordinates and override what differs."""

    kind: ClassVar[str]
    group: ClassVar[str]
    version: ClassVar[str]
    plural: ClassVar[str]
    workload_kind: ClassVar[str] = "batch"  # WorkloadSpec.kind
    creates_pods: ClassVar[bool] = False  # True: batchyard creates the pods (BatchJob); else the kind's controller
    suspend_path: ClassVar[tuple[str, ...]] = ("spec", "suspend")
    names_scheduler: ClassVar[bool] = True  # its pod templates carry schedulerName (checked before submitting)
    suspendable: ClassVar[bool] = True  # it holds its pods back while suspended (its controller honours suspend)
    outcome_from_pods: ClassVar[bool] = False  # how it ended is read from its pods, not from its own status
    requeue_after_eviction: ClassVar[bool] = True  # evicted, it waits in its queue again (else it is over)
    writes_status: ClassVar[bool] = True  # batchyard writes its state onto the object (status or annotations)
    watch_query: ClassVar[dict] = {}  # narrows the watch of this kind (e.g. to queue-labelled objects)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def managed(self, obj: dict) -> bool:
        """Returns whether batchyard runs this object (it names a queue)."""
        return self.queue(obj) is not None

    def queue(self, obj: dict) -> str | None:
        labels = _labels(obj)
        return labels.get(QUEUE_LABEL) or labels.get(KUEUE_QUEUE_LABEL)

    def priority_class(self, obj: dict) -> str | None:
        return _labels(obj).get(PRIORITY_LABEL)

    def max_runtime_s(self, obj: dict) -> int | None:
        return None

    def backoff_limit(self, obj: dict) -> int:
        """Failed runs batchyard retries (0: the object's own controller retries, e.g. a Job's backoffLimit)."""
        return 0

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        raise NotImplementedError

    def suspended(self, obj: dict) -> bool:
        node: object = obj
        for key in self.suspend_path:
            node = (node or {}).get(key) if isinstance(node, dict) else None
        return bool(node)

    def suspend_patch(self, suspend: bool) -> dict:
        """Returns the merge patch that suspends (or resumes) the object."""
        patch: dict = {self.suspend_path[-1]: suspend}
        for key in reversed(self.suspend_path[:-1]):
            patch = {key: patch}
        return patch

    def owner_of(self, pod: dict) -> str | None:
        """Returns the name of this kind's object (in the pod's namespace) that ``pod`` belongs to, if any."""
        raise NotImplementedError

    def slot_of(self, pod: dict) -> Slot | None:
        raise NotImplementedError

    def outcome(self, obj: dict) -> Outcome | None:
        """Returns how the object ended, from its own status (None: not ended, or batchyard decides)."""
        return None


def _labels(obj: dict) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations(obj: dict) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def controller_owner(pod: dict, kind: str) -> str | None:
    """Returns the name of the pod's controlling owner if it is of ``kind``."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return ref.get("name")
    return None


def min_count(obj: dict) -> int | None:
    value = annotations(obj).get(MIN_COUNT) or annotations(obj).get(KUEUE_MIN_PARALLELISM)
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def condition_true(obj: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


def label_of(pod: dict, key: str) -> str | None:
    return _labels(pod).get(key)
