"""Pods of a placement (pure): the pods batchyard creates for a BatchJob, and which node each unbound pod of a
workload goes to, so that every pod the scheduler placed lands where it was placed, and no more.

A placement lists one node per pod (pod set, index). Pods whose kind numbers them (an Indexed Job, a
BatchJob, a PyTorchJob's replicas) take their own index's node; others take any node of their pod set
that no live pod holds. A pod that has ended (Succeeded, Failed) holds nothing, so the Job controller's
replacement for a failed pod lands where the failed one was.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from services.kube_connector.kinds.base import JobKind
from services.kube_connector.kinds.batchjob import ATTEMPT_LABEL, BATCHJOB_LABEL, INDEX_LABEL, POD_SET_LABEL, \
    WORKLOAD_LABEL

TERMINAL = frozenset({"Succeeded", "Failed"})
GPUS_ANNOTATION = "batchyard.dev/gpus"  # the GPU indices the scheduler chose (the device plugin picks on real nodes)


def node_name(node_id: str) -> str:
    """Returns the Kubernetes node name in a batchyard node id (``<cluster>/<name>``)."""
    return node_id.split("/", 1)[1] if "/" in node_id else node_id


def pod_name(owner: str, pod_set: str, index: int, attempt: int) -> str:
    """Returns the name of a BatchJob's pod: readable, unique per attempt, at most 253 characters."""
    name = f"{owner}-{pod_set}-{index}-a{attempt}"
    if len(name) <= 253:
        return name
    return f"{owner[:200]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}-{index}-a{attempt}"


def live(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in TERMINAL and not pod["metadata"].get("deletionTimestamp")


def batchjob_pod(obj_meta: dict, template: dict, assignment: dict, *, attempt: int, workload_label: str,
                 scheduler_name: str) -> dict:
    """Returns the pod of one assignment of a BatchJob, owned by it (deleted with it) and unbound."""
    meta = template.get("metadata") or {}
    spec = dict(template.get("spec") or {})
    spec["schedulerName"] = scheduler_name
    spec.pop("nodeName", None)
    spec.setdefault("restartPolicy", "Never")
    labels = {**(meta.get("labels") or {}), BATCHJOB_LABEL: obj_meta["name"], POD_SET_LABEL: assignment["pod_set"],
              INDEX_LABEL: str(assignment["index"]), ATTEMPT_LABEL: str(attempt), WORKLOAD_LABEL: workload_label}
    annotations = {**(meta.get("annotations") or {})}
    if assignment.get("gpus"):
        annotations[GPUS_ANNOTATION] = ",".join(map(str, assignment["gpus"]))
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(obj_meta["name"], assignment["pod_set"], assignment["index"], attempt),
                     "namespace": obj_meta["namespace"], "labels": labels, "annotations": annotations,
                     "ownerReferences": [{"apiVersion": "batchyard.dev/v1alpha1", "kind": "BatchJob",
                                          "name": obj_meta["name"], "uid": obj_meta["uid"], "controller": True,
                                          "blockOwnerDeletion": True}]},
        "spec": spec,
    }


def bindings(kind: JobKind, assignments: list[dict], pods: Iterable[dict]) -> list[tuple[dict, str]]:
    """Returns (pod, node name) for every unbound live pod that has a free place in ``assignments``."""
    free = Counter((a["pod_set"], a["index"], node_name(a["node_id"])) for a in assignments)
    by_set: dict[str, list[tuple[int, str]]] = {}
    for a in assignments:
        by_set.setdefault(a["pod_set"], []).append((a["index"], node_name(a["node_id"])))
    waiting = []
    for pod in pods:
        slot = kind.slot_of(pod)
        if slot is None or not live(pod):
            continue
        node = pod["spec"].get("nodeName")
        if not node:
            waiting.append((pod, slot))
            continue
        held = _holder(free, slot.pod_set, slot.index, node)
        if held:
            free[held] -= 1
    out = []
    for pod, slot in sorted(waiting, key=lambda ps: (ps[1].index is None, ps[0]["metadata"]["name"])):
        choice = _free_place(free, by_set.get(slot.pod_set, ()), slot.pod_set, slot.index)
        if choice is not None:
            free[choice] -= 1
            out.append((pod, choice[2]))
    return out


def _holder(free: Counter, pod_set: str, index: int | None, node: str):
    """Returns the place a bound pod holds: its own index's if it has one there, else any of its set on its node."""
    for key, left in free.items():
        if left and key[0] == pod_set and key[2] == node and (index is None or key[1] == index):
            return key
    return None


def _free_place(free: Counter, places: Iterable[tuple[int, str]], pod_set: str, index: int | None):
    for i, node in places:
        key = (pod_set, i, node)
        if free[key] > 0 and (index is None or i == index):
            return key
    return None
