"""The pods batchyard schedules (``spec.schedulerName`` is batchyard's), as watched, indexed by the object they
belong to and by node, so each workload and node finds its pods without scanning them all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from services.kube_connector.informer import DELETED
from services.kube_connector.kinds import KINDS, JobKind
from services.kube_connector.pods import live


class PodIndex:
    def __init__(self, on_pod: Callable[[str, str], None], on_node: Callable[[str], None]) -> None:
        self.pods: dict[str, dict] = {}  # uid -> latest pod
        self.by_owner: dict[tuple[str, str], set[str]] = defaultdict(set)  # (namespace, owner name) -> uids
        self.by_node: dict[str, set[str]] = defaultdict(set)  # node name -> uids of pods bound there
        self.on_pod, self.on_node = on_pod, on_node  # (namespace, owner) and node name of every change

    def changed(self, change: str, pod: dict) -> None:
        """The informer's callback: keeps the indexes and tells who owns the pod."""
        self._drop(pod["metadata"]["uid"])
        if change != DELETED:
            self.put(pod)
        else:
            for owner in owners_of(pod):
                self.on_pod(pod["metadata"]["namespace"], owner)
        if node := pod["spec"].get("nodeName"):
            self.on_node(node)

    def put(self, pod: dict) -> None:
        uid, namespace = pod["metadata"]["uid"], pod["metadata"]["namespace"]
        self._drop(uid)
        self.pods[uid] = pod
        for owner in owners_of(pod):
            self.by_owner[(namespace, owner)].add(uid)
            self.on_pod(namespace, owner)
        if node := pod["spec"].get("nodeName"):
            self.by_node[node].add(uid)

    def _drop(self, uid: str) -> None:
        old = self.pods.pop(uid, None)
        if old is None:
            return
        for owner in owners_of(old):
            self.by_owner[(old["metadata"]["namespace"], owner)].discard(uid)
        if node := old["spec"].get("nodeName"):
            self.by_node[node].discard(uid)

    def of(self, namespace: str, name: str, kind: JobKind) -> list[dict]:
        """Returns the pods of one object (of ``kind``) as last seen."""
        return [p for uid in self.by_owner.get((namespace, name), ()) if kind.owner_of(p := self.pods[uid]) == name]

    def on(self, node: str) -> list[dict]:
        """Returns the live pods bound to ``node``."""
        return [p for uid in self.by_node.get(node, ()) if live(p := self.pods[uid])]


def owners_of(pod: dict) -> set[str]:
    """Returns the names of the objects (of any kind) that ``pod`` may belong to."""
    return {owner for kind in KINDS.values() if (owner := kind.owner_of(pod))}
