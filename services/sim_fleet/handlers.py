"""The simulated fleet's handlers: run placed gangs for their (scaled) duration; evict on request."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from libs.events import PreemptionRequested, WorkloadEvicted, WorkloadPlaced, WorkloadRunning
from libs.platform.unit_of_work import Router, UnitOfWork
from services.sim_fleet.clock import SimClock


class FleetHandlers:
    def __init__(self, clock: SimClock, failure_probability: float, now: Callable[[], float] = time.time) -> None:
        self.clock, self.failure_probability, self.now = clock, failure_probability, now

    def _fails(self, workload_id: str) -> bool:
        """Decides, reproducibly per workload, whether the injected pod failure hits it."""
        digest = int.from_bytes(hashlib.sha256(workload_id.encode()).digest()[:8], "big")
        return digest / 2**64 < self.failure_probability

    async def handle_workload_placed(self, event: WorkloadPlaced, uow: UnitOfWork) -> None:
        now = self.now()
        fails = self._fails(event.workload_id)
        duration = event.spec.duration_s * (0.5 if fails else 1.0)
        nodes = sorted({a.node_id for a in event.assignments})
        tenant = event.tenant
        fresh = await uow.conn.fetchval(
            "insert into pods(workload_id, cluster, org, team, nodes, ends_wall, outcome, trace) "
            "values ($1,$2,$3,$4,$5,$6,$7,$8::jsonb) on conflict do nothing returning true",
            event.workload_id, event.cluster, tenant.org if tenant else None, tenant.team if tenant else None,
            nodes, self.clock.wall_after(now, duration), "failed" if fails else "succeeded", uow.trace_context())
        if fresh:
            await uow.emit(WorkloadRunning(cluster=event.cluster, occurred_at=self.clock.sim_at(now)))

    async def handle_preemption_requested(self, event: PreemptionRequested, uow: UnitOfWork) -> None:
        row = await uow.conn.fetchrow("delete from pods where workload_id = $1 returning cluster", event.workload_id)
        if row is not None:
            await uow.emit(WorkloadEvicted(cluster=row["cluster"], reason="preempted", message=event.message,
                                           occurred_at=self.clock.sim_at(self.now())))

    def router(self) -> Router:
        return Router(
            handlers={"WorkloadPlaced": self.handle_workload_placed,
                      "PreemptionRequested": self.handle_preemption_requested},
            ignored=frozenset({"WorkloadUnschedulable", "QuotaReserved", "QuotaReleased", "WorkloadPending",
                               "NodeRepairTransitioned"}))
