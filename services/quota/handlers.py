"""Quota's handlers: admit accepted workloads within their cluster queue's quota; release on completion."""

from __future__ import annotations

import json

from libs.events import (
    Event,
    FlavorAssignment,
    QuotaReleased,
    QuotaReserved,
    Tenant,
    WorkloadAccepted,
    WorkloadPending,
    WorkloadSpec,
    WorkloadUnschedulable,
)
from libs.platform.unit_of_work import Router, UnitOfWork
from services.quota import repository as repo
from services.quota.config import QuotaConfig
from services.quota.flat import add_usage, choose_flavor, requests_of


class QuotaHandlers:
    """Handlers bound to the loaded quota config."""

    def __init__(self, config: QuotaConfig) -> None:
        self.config = config

    async def handle_workload_accepted(self, event: WorkloadAccepted, uow: UnitOfWork) -> None:
        team, queue = event.tenant.team, event.spec.queue or "default"
        cq = self.config.local_queues.get((team, queue))
        state = "pending" if cq else "inadmissible"
        fresh = await repo.insert_workload(
            uow.conn, workload_id=event.workload_id, org=event.tenant.org, team=team, local_queue=queue,
            cluster_queue=cq, priority=event.priority, spec=event.spec, requests=requests_of(event.spec),
            state=state, trace=uow.trace_context())
        if not fresh:
            return
        if cq is None:
            await uow.emit(WorkloadPending(reason="unknown-queue",
                                           message=f"team {team} has no local queue {queue!r}"))
            return
        await self.admit(cq, uow, newcomer=event.workload_id)

    async def handle_workload_finished(self, event: Event, uow: UnitOfWork) -> None:
        row = await repo.finish(uow.conn, event.workload_id)
        if row is None:
            return
        await uow.emit(QuotaReleased(cluster_queue=row["cluster_queue"], reason=event.type.removeprefix("Workload")
                                     .lower()))
        await self.admit(row["cluster_queue"], uow, newcomer=None)

    async def admit(self, cq_name: str, uow: UnitOfWork, newcomer: str | None) -> None:
        """Reserves quota for every pending workload of the queue that fits now (BestEffortFIFO by priority)."""
        cq = self.config.cluster_queues[cq_name]
        usage = await repo.usage(uow.conn, cq_name)
        for position, row in enumerate(await repo.pending(uow.conn, cq_name), start=1):
            spec = WorkloadSpec.model_validate_json(row["spec"])
            choice = choose_flavor(self.config, cq, spec, usage, excluded=frozenset(row["excluded"]))
            tenant = Tenant(org=row["org"], team=row["team"])
            trace = json.loads(row["trace"])
            if choice.flavor is None:
                if row["workload_id"] == newcomer:
                    await uow.emit(WorkloadPending(workload_id=row["workload_id"], tenant=tenant, cluster_queue=cq_name,
                                                   reason=choice.reason, message=choice.message, position=position),
                                   trace=trace)
                continue
            add_usage(usage, choice.flavor.name, json.loads(row["requests"]))
            await repo.set_state(uow.conn, row["workload_id"], "reserved", choice.flavor.name)
            flavor = choice.flavor
            assignments = tuple(FlavorAssignment(pod_set=ps.name, flavor=flavor.name,
                                                 clusters=(flavor.cluster,) if flavor.cluster else (),
                                                 pools=(flavor.pool,) if flavor.pool else ())
                                for ps in spec.pod_sets)
            await uow.emit(QuotaReserved(workload_id=row["workload_id"], tenant=tenant, cluster_queue=cq_name,
                                         flavors=assignments, spec=spec, priority=row["priority"]), trace=trace)

    async def handle_workload_unschedulable(self, event: WorkloadUnschedulable, uow: UnitOfWork) -> None:
        """A flavor whose nodes can never hold the pods: release it and try the queue's next flavor."""
        if event.reason != "never-fits":
            return
        row = await repo.return_unfit(uow.conn, event.workload_id)
        if row is None:
            return
        await uow.emit(QuotaReleased(cluster_queue=row["cluster_queue"], reason="flavor-unfit"))
        await self.admit(row["cluster_queue"], uow, newcomer=event.workload_id)

    def router(self) -> Router:
        finished = self.handle_workload_finished
        return Router(
            handlers={"WorkloadAccepted": self.handle_workload_accepted, "WorkloadSucceeded": finished,
                      "WorkloadFailed": finished, "WorkloadEvicted": finished,
                      "WorkloadUnschedulable": self.handle_workload_unschedulable},
            ignored=frozenset({"WorkloadRejected", "WorkloadRunning", "WorkloadPlaced", "PreemptionRequested"}))
