"""Plain pods labelled with a queue (Kueue's pod integration): a pod is a workload of one, or pods sharing a group
label are one gang. batchyard binds them; there is nothing to suspend (a pod naming batchyard as its scheduler
waits unbound until batchyard binds it) and nothing to resume. An evicted pod is gone, so an evicted group is
over (it fails) rather than requeued: its owner makes new pods if it wants to try again."""

from __future__ import annotations

from typing import ClassVar

from services.kube_connector.informer import DELETED
from services.kube_connector.kinds.base import JobKind, Slot, annotations, label_of
from services.kube_connector.podsets import PodSetSource

GROUP_LABELS = ("batchyard.dev/pod-group", "kueue.x-k8s.io/pod-group-name")
TOTAL_ANNOTATIONS = ("batchyard.dev/pod-group-total-count", "kueue.x-k8s.io/pod-group-total-count")


def group_of(pod: dict) -> str:
    """Returns the pod's group: its group label, else its own name (a group of one)."""
    return next((g for key in GROUP_LABELS if (g := label_of(pod, key))), pod["metadata"]["name"])


def total_of(pod: dict) -> int:
    """Returns how many pods the pod's group has (1 without a group)."""
    for key in TOTAL_ANNOTATIONS:
        value = annotations(pod).get(key, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


class PodKind(JobKind):
    kind: ClassVar[str] = "Pod"
    group: ClassVar[str] = ""
    version: ClassVar[str] = "v1"
    plural: ClassVar[str] = "pods"
    suspendable: ClassVar[bool] = False
    outcome_from_pods: ClassVar[bool] = True
    requeue_after_eviction: ClassVar[bool] = False
    writes_status: ClassVar[bool] = False  # a pod's own status is the kubelet's; batchyard only posts warnings
    watch_query: ClassVar[dict] = {"labelSelector": "batchyard.dev/queue"}

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        first = obj["pods"][0]
        template = {"metadata": {"annotations": annotations(first)}, "spec": first.get("spec") or {}}
        return [PodSetSource("main", template, total_of(first))]

    def suspended(self, obj: dict) -> bool:
        return False

    def owner_of(self, pod: dict) -> str | None:
        return group_of(pod) if label_of(pod, "batchyard.dev/queue") else None

    def slot_of(self, pod: dict) -> Slot | None:
        return Slot("main")


class PodGroups:
    """Gathers queue-labelled pods into their groups; hands a group on once all its pods exist, and when its last
    pod is gone. A group's uid is its oldest pod's uid when it first became whole (stable across relists)."""

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], dict[str, dict]] = {}  # (namespace, group) -> uid -> pod
        self.uids: dict[tuple[str, str], str] = {}  # (namespace, group) -> the group's uid, once whole

    def changed(self, change: str, pod: dict) -> tuple[str, dict] | None:
        """Returns (change, group object) when the group is whole or gone; None while it is still gathering."""
        key = (pod["metadata"]["namespace"], group_of(pod))
        members = self.pods.setdefault(key, {})
        if change == DELETED:
            members.pop(pod["metadata"]["uid"], None)
            if members:
                return None
            del self.pods[key]
            uid = self.uids.pop(key, None)
            return (DELETED, group_object(key, [pod], uid)) if uid else None
        members[pod["metadata"]["uid"]] = pod
        if len(members) < total_of(pod):
            return None
        ordered = sorted(members.values(), key=lambda p: (p["metadata"].get("creationTimestamp", ""),
                                                           p["metadata"]["name"]))
        uid = self.uids.setdefault(key, ordered[0]["metadata"]["uid"])
        return change, group_object(key, ordered, uid)


def group_object(key: tuple[str, str], pods: list[dict], uid: str) -> dict:
    """Returns a group as the object the intake and reconcilers handle (kind Pod, named by the group)."""
    first = pods[0]["metadata"]
    return {"kind": "Pod", "metadata": {"name": key[1], "namespace": key[0], "uid": uid,
                                        "labels": first.get("labels") or {},
                                        "annotations": first.get("annotations") or {}}, "pods": pods}
