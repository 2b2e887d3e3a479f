"""Fluent builders for placement tests: ``node("n1").gpus(8, "H100").rack("r1").build()``."""

from __future__ import annotations

from dataclasses import replace

from libs.placement import (
    AffinityOperator, BoundPod, NodeSelectorRequirement, NodeSpec, PodSet, Snapshot, Taint, TaintEffect,
    Toleration, Topology, TopologyLevel, TopologyMode, TopologyRequest, Workload,
)


class NodeBuilder:
    """Builds a NodeSpec; defaults: 32 CPU, 128 GiB, no GPU, cluster c1, pool p1."""

    def __init__(self, name: str) -> None:
        self.spec = NodeSpec(name, cpu_milli=32000, memory_mib=131072, cluster="c1", pool="p1")

    def _set(self, **kw: object) -> "NodeBuilder":
        self.spec = replace(self.spec, **kw)
        return self

    def cpu(self, milli: int) -> "NodeBuilder":
        return self._set(cpu_milli=milli)

    def mem(self, mib: int) -> "NodeBuilder":
        return self._set(memory_mib=mib)

    def gpus(self, count: int, model: str = "H100") -> "NodeBuilder":
        return self._set(gpu_count=count, gpu_model=model)

    def cluster(self, name: str) -> "NodeBuilder":
        return self._set(cluster=name)

    def pool(self, name: str) -> "NodeBuilder":
        return self._set(pool=name)

    def label(self, key: str, value: str) -> "NodeBuilder":
        return self._set(labels={**self.spec.labels, key: value})

    def taint(self, key: str, value: str = "", effect: TaintEffect = TaintEffect.NO_SCHEDULE) -> "NodeBuilder":
        return self._set(taints=self.spec.taints + (Taint(key, value, effect),))

    def rack(self, rack: str, block: str = "b1", zone: str = "z1") -> "NodeBuilder":
        return self._set(topology=Topology(zone, block, rack))

    def cordoned(self) -> "NodeBuilder":
        return self._set(cordoned=True)

    def unhealthy(self) -> "NodeBuilder":
        return self._set(healthy=False)

    def price(self, per_hour: float) -> "NodeBuilder":
        return self._set(price_per_hour=per_hour)

    def build(self) -> NodeSpec:
        return self.spec


def node(name: str) -> NodeBuilder:
    """Start building a node."""
    return NodeBuilder(name)


class WorkloadBuilder:
    """Builds a Workload pod set by pod set: ``workload("w").pods("main", 2, gpus=1).build()``."""

    def __init__(self, wid: str) -> None:
        self.wid, self.prio, self._clusters, self._pools, self._prefer = wid, 0, (), (), ()
        self.sets: list[PodSet] = []

    def priority(self, p: int) -> "WorkloadBuilder":
        self.prio = p
        return self

    def clusters(self, *names: str) -> "WorkloadBuilder":
        self._clusters = names
        return self

    def pools(self, *names: str) -> "WorkloadBuilder":
        self._pools = names
        return self

    def prefer(self, *names: str) -> "WorkloadBuilder":
        self._prefer = names
        return self

    def pods(self, name: str, count: int = 1, *, cpu: int = 1000, mem: int = 1024, gpus: int = 0,
             gpu_milli: int = 1000, models: tuple[str, ...] = (), min_count: int | None = None,
             **kw: object) -> "WorkloadBuilder":
        self.sets.append(PodSet(name, count, cpu, mem, gpus, gpu_milli, models, min_count=min_count, **kw))
        return self

    def build(self) -> Workload:
        return Workload(self.wid, tuple(self.sets), self.prio, self._clusters, self._pools, self._prefer)


def workload(wid: str) -> WorkloadBuilder:
    """Start building a workload."""
    return WorkloadBuilder(wid)


def snapshot(*nodes: NodeBuilder | NodeSpec) -> Snapshot:
    """Return a snapshot holding ``nodes`` in the given (tie-breaking) order."""
    return Snapshot.from_nodes(n.build() if isinstance(n, NodeBuilder) else n for n in nodes)


def running(snap: Snapshot, wid: str, node_name: str, *, gpus: int = 0, cpu: int = 1000, mem: int = 1024,
            priority: int = 0, started_at: float = 0.0, first_gpu: int = 0, pods: int = 1) -> list[BoundPod]:
    """Bind ``pods`` running pods of workload ``wid`` on a node, each with ``gpus`` whole GPUs."""
    out = []
    base = len(snap.workload_pods.get(wid, ()))
    for j in range(pods):
        g0 = first_gpu + j * gpus
        pod = BoundPod(f"{wid}/{base + j}", wid, node_name, cpu, mem, tuple((g, 1000) for g in range(g0, g0 + gpus)),
                       priority, started_at)
        snap.bind(pod)
        out.append(pod)
    return out


def rack_topology(mode: TopologyMode = TopologyMode.REQUIRED, level: TopologyLevel = TopologyLevel.RACK) -> TopologyRequest:
    return TopologyRequest(level, mode)


def req(key: str, op: str, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key, AffinityOperator(op), values)


def tol(key: str = "", value: str = "", op: str = "Equal", effect: TaintEffect | None = None) -> Toleration:
    return Toleration(key, op, value, effect)


def digest(snap: Snapshot) -> tuple:
    """Return everything observable about a snapshot, slot by slot, for exact-equality checks."""
    rows = []
    for slot in range(snap.size):
        spec = snap.specs[slot]
        if spec is None:
            rows.append(None)
            continue
        rows.append((spec, int(snap.cpu_used[slot]), int(snap.mem_used[slot]),
                     tuple(int(x) for x in snap.gpu_left[slot, : spec.gpu_count]),
                     int(snap.gpu_full[slot]), int(snap.gpu_maxleft[slot]),
                     tuple(sorted(snap.pods_on[slot]))))
    workloads = tuple(sorted((w, tuple(sorted(p))) for w, p in snap.workload_pods.items()))
    return tuple(rows), workloads, tuple(snap._free_slots)
