"""Fluent builders for cost-core tests: nodes, usage reports, catalogs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from libs.cost import (
    NodeSpec,
    Owner,
    PriceCatalog,
    PriceKey,
    PriceVersion,
    PricingModel,
    Resources,
    UsageInterval,
    to_micros,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GIB = 1024**3


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    """Returns T0 plus an offset; handy for readable interval bounds."""
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def gpu_node(name: str = "g1", gpus: int = 8, pool: str = "gpu-a", cluster: str = "aws-east",
             instance_type: str = "p5.48xlarge", gpu_model: str = "H100-80GB") -> NodeSpec:
    """Returns a GPU node with 96 cores and 1 TiB per 8 GPUs."""
    return NodeSpec(name, cluster, pool, instance_type,
                    Resources(cpu_millis=96_000, memory_bytes=1024 * GIB, gpus=gpus), gpu_model)


def cpu_node(name: str = "c1", pool: str = "cpu-a", cluster: str = "aws-east",
             instance_type: str = "m7i.8xlarge", cores: int = 32, mem_gib: int = 128) -> NodeSpec:
    """Returns a CPU-only node."""
    return NodeSpec(name, cluster, pool, instance_type,
                    Resources(cpu_millis=cores * 1000, memory_bytes=mem_gib * GIB))


def catalog_for(*nodes: NodeSpec, dollars: str = "3.60", since: datetime = T0,
                model: PricingModel = PricingModel.ON_DEMAND) -> PriceCatalog:
    """Returns a catalog pricing every node's key at ``dollars`` per hour from ``since``."""
    keys = {PriceKey(n.cluster, n.pool, n.instance_type) for n in nodes}
    return PriceCatalog.of(
        PriceVersion(k, since, to_micros(dollars), model, version_id=f"v-{k.pool}-{since:%H}")
        for k in sorted(keys)
    )


@dataclasses.dataclass
class ReportBuilder:
    """Builds a UsageInterval: ``report("w1").on("g1").between(at(0), at(1)).gpus(2).build()``."""

    workload: str
    node: str = "g1"
    start: datetime = T0
    end: datetime = T0 + timedelta(hours=1)
    res: Resources = Resources()
    seq: int = 1
    event_id: str = ""
    allocation_id: str = ""
    owner: Owner = Owner("org-a", "team-a", "q-a")

    def on(self, node: str) -> ReportBuilder:
        return dataclasses.replace(self, node=node)

    def between(self, start: datetime, end: datetime) -> ReportBuilder:
        return dataclasses.replace(self, start=start, end=end)

    def gpus(self, n: int) -> ReportBuilder:
        return dataclasses.replace(self, res=dataclasses.replace(self.res, gpus=n))

    def cpu(self, cores: float) -> ReportBuilder:
        return dataclasses.replace(self, res=dataclasses.replace(self.res, cpu_millis=int(cores * 1000)))

    def mem_gib(self, gib: int) -> ReportBuilder:
        return dataclasses.replace(self, res=dataclasses.replace(self.res, memory_bytes=gib * GIB))

    def revision(self, seq: int) -> ReportBuilder:
        return dataclasses.replace(self, seq=seq)

    def by(self, org: str, team: str, queue: str = "q") -> ReportBuilder:
        return dataclasses.replace(self, owner=Owner(org, team, queue))

    def allocation(self, allocation_id: str) -> ReportBuilder:
        return dataclasses.replace(self, allocation_id=allocation_id)

    def event(self, event_id: str) -> ReportBuilder:
        return dataclasses.replace(self, event_id=event_id)

    def build(self) -> UsageInterval:
        alloc = self.allocation_id or f"{self.workload}@{self.node}"
        ev = self.event_id or f"{alloc}#{self.seq}"
        return UsageInterval(ev, alloc, self.seq, self.workload, self.owner, self.node,
                             self.start, self.end, self.res)


def report(workload: str) -> ReportBuilder:
    """Starts a usage report for ``workload``."""
    return ReportBuilder(workload)
