"""Node repair's Prometheus metrics, counted from its own tables: nodes per pool and repair state, and repair
transitions by target state and reason (docs/observability.md)."""

from __future__ import annotations

import asyncpg

from libs.platform.gauges import Gauges, Sample
from libs.repair.machine import NodeState


class RepairMetrics:
    """Gauges over ``repair_nodes`` and ``repair_transitions``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool  # the service's pool (its schema on the search path)
        self.gauges = Gauges()
        self.gauges.gauge("batchyard_node_repair_nodes", "Nodes per pool and repair state (healthy, suspect, "
                          "cordoned, draining, repairing, retired)", self.nodes)
        self.gauges.counter("batchyard_node_repair_transitions", "Repair transitions per target state and reason",
                            self.transitions)

    async def nodes(self) -> list[Sample]:
        rows = await self.pool.fetch("select pool, state, count(*) as n from repair_nodes group by pool, state")
        counts = {(r["pool"], r["state"]): r["n"] for r in rows}
        return [(float(counts.get((pool, s.value), 0)), {"pool": pool, "state": s.value})
                for pool in sorted({p for p, _ in counts}) for s in NodeState]

    async def transitions(self) -> list[Sample]:
        rows = await self.pool.fetch("select to_state, reason, count(*) as n from repair_transitions "
                                     "group by to_state, reason order by 1, 2")
        return [(float(r["n"]), {"to_state": r["to_state"], "reason": r["reason"]}) for r in rows]
