"""Scheduler handlers: keep the snapshot from node and workload events; place quota-reserved gangs."""

from __future__ import annotations

import json

from libs.events import (
    Event,
    NodeInventoried,
    NodeRepairTransitioned,
    PodAssignment,
    QuotaReserved,
    WorkloadPlaced,
    WorkloadUnschedulable,
)
from libs.platform.unit_of_work import Router, UnitOfWork
from services.scheduler.firstfit import Pod, Snapshot, place

UNSCHEDULABLE_STATES = {"cordoned", "draining", "repairing", "retired"}


class SchedulerHandlers:
    """Owns the in-memory snapshot. Changes are applied as they are decided; a failed transaction rebuilds."""

    def __init__(self, snapshot: Snapshot, load) -> None:
        self.snapshot = snapshot
        self._load = load  # async () -> Snapshot: the snapshot as Postgres knows it

    async def _rebuild(self) -> None:
        self.snapshot = await self._load()

    async def handle_node_inventoried(self, event: NodeInventoried, uow: UnitOfWork) -> None:
        uow.on_rollback(self._rebuild)
        if event.removed:
            await uow.conn.execute("delete from nodes where node_id = $1", event.node_id)
            self.snapshot.nodes.pop(event.node_id, None)
            return
        await uow.conn.execute("insert into nodes(node_id, spec) values ($1, $2::jsonb) on conflict (node_id) "
                               "do update set spec = excluded.spec", event.node_id, event.model_dump_json())
        self.snapshot.upsert(event)
        await self.place_pending(uow)

    async def handle_node_repair_transitioned(self, event: NodeRepairTransitioned, uow: UnitOfWork) -> None:
        uow.on_rollback(self._rebuild)
        cordoned = event.to_state in UNSCHEDULABLE_STATES
        await uow.conn.execute("update nodes set cordoned = $2 where node_id = $1", event.node_id, cordoned)
        if (node := self.snapshot.nodes.get(event.node_id)) is not None:
            node.cordoned = cordoned
        if not cordoned:
            await self.place_pending(uow)

    async def handle_quota_reserved(self, event: QuotaReserved, uow: UnitOfWork) -> None:
        uow.on_rollback(self._rebuild)
        fresh = await uow.conn.fetchval(
            "insert into pending(workload_id, reservation, trace) select $1, $2::jsonb, $3::jsonb "
            "where not exists (select 1 from placements where workload_id = $1) "
            "on conflict do nothing returning true", event.workload_id, event.model_dump_json(), uow.trace_context())
        if fresh:
            await self.place_pending(uow, only=event.workload_id)

    async def handle_workload_ended(self, event: Event, uow: UnitOfWork) -> None:
        uow.on_rollback(self._rebuild)
        pods = await uow.conn.fetchval("delete from placements where workload_id = $1 returning pods",
                                       event.workload_id)
        await uow.conn.execute("delete from pending where workload_id = $1", event.workload_id)
        if pods is not None:
            self.snapshot.unbind([tuple(p) for p in json.loads(pods)])
            await self.place_pending(uow)

    async def place_pending(self, uow: UnitOfWork, only: str | None = None) -> None:
        """Tries to place pending gangs in arrival order; binds the ones that fit."""
        query = "select workload_id, reservation, last_reason, trace from pending"
        rows = await uow.conn.fetch(query + (" where workload_id = $1" if only else " order by seq"),
                                    *([only] if only else []))
        for row in rows:
            reservation = QuotaReserved.model_validate_json(row["reservation"])
            trace = json.loads(row["trace"])
            decision = place(self.snapshot, reservation)
            if decision.pods is None and decision.reason == "never-fits":
                # quota chose a flavor whose nodes are too small: hand the workload back to try another flavor
                await uow.conn.execute("delete from pending where workload_id = $1", reservation.workload_id)
                await uow.emit(WorkloadUnschedulable(workload_id=reservation.workload_id, tenant=reservation.tenant,
                                                     reason=decision.reason, message=decision.message), trace=trace)
                continue
            if decision.pods is None:
                if decision.message != row["last_reason"]:
                    await uow.conn.execute("update pending set last_reason = $2 where workload_id = $1",
                                           reservation.workload_id, decision.message)
                    await uow.emit(WorkloadUnschedulable(workload_id=reservation.workload_id,
                                                         tenant=reservation.tenant, reason=decision.reason,
                                                         message=decision.message), trace=trace)
                continue
            await self._commit_placement(reservation, decision.pods, uow, trace)

    async def _commit_placement(self, reservation: QuotaReserved, pods: list[Pod], uow: UnitOfWork,
                                trace: dict[str, str]) -> None:
        cluster = self.snapshot.nodes[pods[0][0]].inventory.cluster
        await uow.conn.execute("delete from pending where workload_id = $1", reservation.workload_id)
        await uow.conn.execute("insert into placements(workload_id, cluster, pods) values ($1, $2, $3::jsonb)",
                               reservation.workload_id, cluster, json.dumps(pods))
        self.snapshot.bind(pods)
        assignments, i = [], 0
        for ps in reservation.spec.pod_sets:
            for index in range(ps.count):
                assignments.append(PodAssignment(pod_set=ps.name, index=index, node_id=pods[i][0]))
                i += 1
        await uow.emit(WorkloadPlaced(workload_id=reservation.workload_id, tenant=reservation.tenant,
                                      cluster=cluster, assignments=tuple(assignments), spec=reservation.spec,
                                      cluster_queue=reservation.cluster_queue), trace=trace)

    def router(self) -> Router:
        ended = self.handle_workload_ended
        return Router(
            handlers={"NodeInventoried": self.handle_node_inventoried, "QuotaReserved": self.handle_quota_reserved,
                      "NodeRepairTransitioned": self.handle_node_repair_transitioned, "WorkloadSucceeded": ended,
                      "WorkloadFailed": ended, "WorkloadEvicted": ended},
            ignored=frozenset({"QuotaReleased", "WorkloadPending", "PreemptionRequested", "WorkloadRunning"}))
