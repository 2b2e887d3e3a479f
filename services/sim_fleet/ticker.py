"""The fleet's clock loop: finishes due workloads and runs the node agents, in transactions through the outbox."""

from __future__ import annotations

import json
import time

import asyncpg

from libs.events import Tenant, WorkloadFailed, WorkloadSucceeded
from libs.fleet.spec import FleetSpec
from libs.platform.periodic import every
from libs.platform.unit_of_work import UnitOfWork
from services.sim_fleet.agents import NodeAgents
from libs.platform.clock import SimClock


class Ticker:
    def __init__(self, pool: asyncpg.Pool, clock: SimClock, fleet: FleetSpec, namespace: str, wake,
                 *, period_s: float = 0.1, seed: int = 7) -> None:
        self.pool, self.clock, self.fleet, self.namespace, self.wake = pool, clock, fleet, namespace, wake
        self.period_s = period_s
        self.agents = NodeAgents(pool, clock, fleet, namespace, seed=seed)

    async def run(self) -> None:
        await self.agents.register()
        await every(self.period_s, self.tick, name="fleet tick", wake=self.wake)

    async def tick(self) -> int:
        """Finishes due workloads and steps the node agents; returns how many events it committed (a failed tick
        leaves the pods due, to be finished next tick)."""
        return await self.finish_due() + await self.agents.step()

    async def finish_due(self) -> int:
        """Ends every workload whose simulated duration has passed; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "delete from pods where workload_id in (select workload_id from pods where ends_wall <= $1 "
                "order by ends_wall limit 500 for update skip locked) returning *", time.time())
            uow = UnitOfWork(conn=conn, producer="sim-fleet", namespace=self.namespace)
            for row in rows:
                tenant = Tenant(org=row["org"], team=row["team"]) if row["org"] else None
                at = self.clock.sim_at(row["ends_wall"])
                if row["outcome"] == "failed":
                    event = WorkloadFailed(cluster=row["cluster"], reason="pod-failed", occurred_at=at,
                                           message="a pod exited non-zero (injected failure)",
                                           attempt=row["attempt"], final=row["final"])
                else:
                    event = WorkloadSucceeded(cluster=row["cluster"], occurred_at=at)
                await uow.emit(event.model_copy(update={"workload_id": row["workload_id"], "tenant": tenant}),
                               trace=json.loads(row["trace"]))
        return len(rows)
