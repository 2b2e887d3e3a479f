"""Fluent builders of the scheduler's input events (NodeInventoried, QuotaReserved) for unit tests."""

from __future__ import annotations

from libs.events import FlavorAssignment, NodeInventoried, PodSet, QuotaReserved, Resources, Tenant, Topology
from libs.events import TopologyRequest, WorkloadSpec
from libs.events.node import Taint
from libs.events.workload import Toleration

TENANT = Tenant(org="acme", team="vision")


def inventoried(name: str, *, cluster: str = "dc1", pool: str = "a100", gpus: int = 8, model: str | None = "A100",
                cpu: int = 64_000, mem: int = 512_000, rack: str = "r0", labels: dict | None = None,
                taints: tuple[Taint, ...] = (), removed: bool = False, price_micros: int = 9_600_000
                ) -> NodeInventoried:
    return NodeInventoried(node_id=name, cluster=cluster, pool=pool, instance_type="x", cpu_milli=cpu,
                           memory_mib=mem, gpu=gpus, gpu_model=model if gpus else None, labels=labels or {},
                           taints=taints, price_per_hour_micros=price_micros, removed=removed,
                           topology=Topology(zone=f"{cluster}/z", block=f"{cluster}/b", rack=f"{cluster}/{rack}",
                                             host=name))


class ReservationBuilder:
    """``reserved("w1").priority(5).flavor("dc1", "a100").pods("workers", 4, gpu=8).build()``."""

    def __init__(self, workload_id: str) -> None:
        self.workload_id, self._priority, self._pod_sets = workload_id, 0, []
        self._clusters: tuple[str, ...] = ("dc1",)
        self._pools: tuple[str, ...] = ("a100",)

    def priority(self, value: int) -> "ReservationBuilder":
        self._priority = value
        return self

    def flavor(self, cluster: str | None, pool: str | None) -> "ReservationBuilder":
        self._clusters = (cluster,) if cluster else ()
        self._pools = (pool,) if pool else ()
        return self

    def pods(self, name: str, count: int = 1, *, cpu: int = 1000, mem: int = 1000, gpu: int = 0, gpu_milli: int = 0,
             model: str | None = None, selector: dict | None = None, tolerations: tuple[Toleration, ...] = (),
             topology: TopologyRequest | None = None, min_count: int | None = None) -> "ReservationBuilder":
        self._pod_sets.append(PodSet(name=name, count=count, min_count=min_count, gpu_model=model,
                                     requests=Resources(cpu_milli=cpu, memory_mib=mem, gpu=gpu, gpu_milli=gpu_milli),
                                     node_selector=selector or {}, tolerations=tolerations, topology=topology))
        return self

    def build(self) -> QuotaReserved:
        spec = WorkloadSpec(name=self.workload_id, pod_sets=tuple(self._pod_sets))
        flavors = tuple(FlavorAssignment(pod_set=p.name, flavor="f", clusters=self._clusters, pools=self._pools)
                        for p in self._pod_sets)
        return QuotaReserved(workload_id=self.workload_id, tenant=TENANT, cluster_queue="cq", flavors=flavors,
                             spec=spec, priority=self._priority)


def reserved(workload_id: str) -> ReservationBuilder:
    return ReservationBuilder(workload_id)
