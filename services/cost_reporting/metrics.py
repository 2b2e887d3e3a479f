"""Cost reporting's Prometheus metrics: what each team's running work costs per hour now, priced and shared
exactly as the ledger books it (docs/observability.md)."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from libs.cost import Resources, node_share
from libs.platform.gauges import Gauges, Sample
from services.cost_reporting.booking import CONFIG
from services.cost_reporting.usage import node_spec

# every open allocation with its node and the node's newest hourly price (the catalog's, else the inventory's)
OPEN_ALLOCATIONS = """
select a.org, a.team, a.cpu_milli as used_cpu, a.memory_mib as used_memory, a.gpu_milli as used_gpu,
       n.node_id, n.cluster, n.pool, n.instance_type, n.gpu_model, n.cpu_milli, n.memory_mib, n.gpu,
       coalesce((select p.hourly_micros from price_versions p where p.cluster = n.cluster and p.pool = n.pool
                 and p.instance_type = coalesce(n.instance_type, '') order by p.effective_from desc, p.revision desc
                 limit 1), n.price_micros) as hourly_micros
from allocations a join nodes n using (node_id) where a.end_at is null"""


class CostMetrics:
    """The cost rate per org and team, from the allocations running now."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool  # the service's pool (its schema on the search path)
        self.teams: set[tuple[str, str]] = set()  # every team seen running: reported 0 once it stops
        self.gauges = Gauges()
        self.gauges.gauge("batchyard_cost_rate_dollars_per_hour", "What the workloads running now cost per hour, "
                          "per org and team (node price times the workload's share of the node)", self.rate)

    async def rate(self) -> list[Sample]:
        dollars: dict[tuple[str, str], float] = defaultdict(float)
        for row in await self.pool.fetch(OPEN_ALLOCATIONS):
            used = Resources(cpu_millis=row["used_cpu"], memory_bytes=row["used_memory"], gpus=row["used_gpu"])
            share = node_share(used, node_spec(row), CONFIG)
            dollars[(row["org"] or "", row["team"] or "")] += float(share) * row["hourly_micros"] / 1e6
        self.teams |= set(dollars)
        return [(dollars.get(t, 0.0), {"org": t[0], "team": t[1]}) for t in sorted(self.teams)]
