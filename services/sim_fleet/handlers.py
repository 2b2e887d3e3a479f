"""The simulated fleet's handlers: run placed gangs for their (scaled) duration; evict on request; carry out
node repair's cordons, drains and repairs (the agents in agents.py finish them on the simulated clock)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from libs.events import (
    NodeRepairTransitioned,
    PreemptionRequested,
    WorkloadCancelled,
    WorkloadEvicted,
    WorkloadFailed,
    WorkloadPlaced,
    WorkloadRunning,
    WorkloadSuspended,
    retried,
)
from libs.fleet.spec import FaultSpec
from libs.platform.store import columns
from libs.platform.unit_of_work import Router, UnitOfWork
from services.sim_fleet.agents import fraction
from libs.platform.clock import SimClock


class FleetHandlers:
    def __init__(self, clock: SimClock, faults: FaultSpec, now: Callable[[], float] = time.time) -> None:
        self.clock, self.faults, self.now = clock, faults, now
        self.failure_probability = faults.pod_failure_probability

    def _fails(self, workload_id: str, attempt: int = 1) -> bool:
        """Decides, reproducibly per workload and failed-run number, whether the injected pod failure hits it (a
        retried run draws again)."""
        return (fraction(workload_id) if attempt == 1 else fraction(workload_id, attempt)) < self.failure_probability

    async def handle_workload_placed(self, event: WorkloadPlaced, uow: UnitOfWork) -> None:
        await self.handle_workload_placed_batch([event], [uow])

    async def handle_workload_placed_batch(self, events: list[WorkloadPlaced], uows: list[UnitOfWork]) -> None:
        """Starts the pods of a run of placements: one insert for all of them (a workload already running here, or
        placed twice in the run, starts once), then a WorkloadRunning for each that started."""
        now = self.now()
        rows = [self._pods_row(event, uow, now) for event, uow in zip(events, uows)]
        started = {r["workload_id"] for r in await uows[0].conn.fetch(
            "insert into pods(workload_id, cluster, org, team, nodes, ends_wall, outcome, trace, attempt, final) "
            "select w, c, o, t, array(select jsonb_array_elements_text(n::jsonb)), e, r, tr::jsonb, a, f "
            "from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[], "
            "$8::text[], $9::int[], $10::bool[]) with ordinality as u(w, c, o, t, n, e, r, tr, a, f, i) order by i "
            "on conflict do nothing returning workload_id", *columns(rows))}
        for event, uow in zip(events, uows):
            if event.workload_id in started:
                started.discard(event.workload_id)  # the first of two copies in the run is the one stored
                await uow.emit(WorkloadRunning(cluster=event.cluster, occurred_at=self.clock.sim_at(now)))

    def _pods_row(self, event: WorkloadPlaced, uow: UnitOfWork, now: float) -> tuple:
        """Returns the pods row of a placement: when its run ends (on the scaled clock) and how."""
        attempt = event.failures + 1
        fails = self._fails(event.workload_id, attempt)
        duration = event.spec.duration_s * (0.5 if fails else 1.0)
        tenant = event.tenant
        return (event.workload_id, event.cluster, tenant.org if tenant else None, tenant.team if tenant else None,
                json.dumps(sorted({a.node_id for a in event.assignments})), self.clock.wall_after(now, duration),
                "failed" if fails else "succeeded", uow.trace_context(), attempt,
                not retried("pod-failed", attempt, event.spec.backoff_limit))

    async def handle_node_repair_transitioned(self, event: NodeRepairTransitioned, uow: UnitOfWork) -> None:
        """Applies a cordon, drain, repair, return to service or retirement to the node's agent."""
        node, to = event.node_id, event.to_state
        if to in ("cordoned", "retired"):
            await uow.conn.execute("update nodes set state = $2 where node_id = $1", node, to)
        elif to == "draining":
            # the grace counts from when the drain reaches the node, however late node repair's clock runs
            grace = (event.drain_deadline - event.occurred_at).total_seconds() if event.drain_deadline else 0.0
            deadline = self.clock.wall_after(self.now(), grace)
            await uow.conn.execute("update nodes set state = 'draining', drain_deadline_wall = $2, "
                                   "drain_since_wall = $3, drain_reported = false where node_id = $1", node,
                                   deadline, self.now())
        elif to == "repairing":
            action = event.action if event.action in ("reboot", "reimage", "replace") else "reboot"
            ok = fraction("repair", node, event.event_id) >= self.faults.repair_failure_probability
            done = self.clock.wall_after(self.now(), self.faults.repair_seconds(action))
            await uow.conn.execute("update nodes set state = 'repairing', repair_action = $2, repair_ok = $3, "
                                   "repair_done_wall = $4 where node_id = $1", node, action, ok, done)
        elif to == "healthy":
            await uow.conn.execute("update nodes set state = 'up', drain_deadline_wall = null, repair_action = null, "
                                   "repair_done_wall = null, next_report_wall = $2 where node_id = $1",
                                   node, self.now())

    async def handle_preemption_requested(self, event: PreemptionRequested, uow: UnitOfWork) -> None:
        row = await uow.conn.fetchrow("delete from pods where workload_id = $1 returning cluster", event.workload_id)
        if row is not None:
            await uow.emit(WorkloadEvicted(cluster=row["cluster"], reason="preempted", message=event.message,
                                           occurred_at=self.clock.sim_at(self.now())))

    async def handle_workload_cancelled(self, event: WorkloadCancelled, uow: UnitOfWork) -> None:
        """Stops a cancelled workload's pods, if they run here; its end (WorkloadFailed, reason cancelled, at the
        fleet's clock) frees the nodes in the scheduler and closes its cost accrual. Quota's copy may come before
        the WorkloadPlaced (another topic) and finds nothing; the scheduler's copy always comes after it."""
        row = await uow.conn.fetchrow("delete from pods where workload_id = $1 returning cluster", event.workload_id)
        if row is not None:
            message = f"cancelled by {event.cancelled_by or 'its team'}" + (f": {event.reason}" if event.reason else "")
            await uow.emit(WorkloadFailed(cluster=row["cluster"], reason="cancelled", message=message[:2000],
                                          occurred_at=self.clock.sim_at(self.now())))

    async def handle_workload_suspended(self, event: WorkloadSuspended, uow: UnitOfWork) -> None:
        """Stops a suspended workload's pods, on the scheduler's copy only: it follows the WorkloadPlaced of the run
        it suspends, and precedes the placement of a resumed attempt (quota's copy, on another topic, could come
        after that placement and must not stop the new run). The end is WorkloadEvicted, reason suspended."""
        if event.placed is None:
            return
        row = await uow.conn.fetchrow("delete from pods where workload_id = $1 returning cluster", event.workload_id)
        if row is not None:
            message = f"suspended by {event.suspended_by or 'its team'}" + (f": {event.reason}" if event.reason
                                                                             else "")
            await uow.emit(WorkloadEvicted(cluster=row["cluster"], reason="suspended", message=message[:2000],
                                           occurred_at=self.clock.sim_at(self.now())))

    def router(self) -> Router:
        return Router(
            handlers={"WorkloadPlaced": self.handle_workload_placed,
                      "PreemptionRequested": self.handle_preemption_requested,
                      "WorkloadCancelled": self.handle_workload_cancelled,
                      "WorkloadSuspended": self.handle_workload_suspended,
                      "NodeRepairTransitioned": self.handle_node_repair_transitioned},
            ignored=frozenset({"WorkloadUnschedulable", "QuotaReserved", "QuotaReleased", "WorkloadPending",
                               "WorkloadPriorityChanged", "ClusterReachabilityChanged"}),
            batch_handlers={"WorkloadPlaced": self.handle_workload_placed_batch})
