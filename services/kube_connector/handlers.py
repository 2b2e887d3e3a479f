"""The connector's handlers: platform events about its workloads and nodes become rows to act on.

Handlers only change the connector's own tables, in the consumer's transaction; the API server is driven
afterwards by the reconcilers (runner.py, nodes_sync.py), which read those rows. So a slow or restarting
API server never stalls a partition, and a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from libs.events import (
    Event,
    NodeRepairTransitioned,
    PreemptionRequested,
    QuotaReserved,
    WorkloadAccepted,
    WorkloadCancelled,
    WorkloadFailed,
    WorkloadPending,
    WorkloadPlaced,
    WorkloadRejected,
    WorkloadSuspended,
    WorkloadUnschedulable,
)
from libs.platform.clock import SimClock
from libs.platform.unit_of_work import Router, UnitOfWork
from services.kube_connector.rows import Rows
from services.kube_connector import status
from services.kube_connector.status import utc_now
from services.kube_connector.pods import node_name


class ConnectorHandlers:
    def __init__(self, cluster: str, clock: SimClock, touch: Callable[[str], None],
                 touch_node: Callable[[str], None], now: Callable[[], float]) -> None:
        self.cluster, self.clock = cluster, clock
        self.touch, self.touch_node, self.now = touch, touch_node, now  # wake the reconcilers after commit

    async def handle_workload_event(self, event: Event, uow: UnitOfWork) -> None:
        """One workload event alone (a poll batch that failed is redone one record at a time)."""
        await self.handle_workload_events([event], [uow])

    async def handle_workload_events(self, events: list[Event], uows: list[UnitOfWork]) -> None:
        """A run of workload events of one poll batch (ADR 0022): the rows of the workloads they name are read and
        locked at once, moved in memory in the order the events came, and written at once: two statements for the
        run, and a workload that several of its events move (accepted, reserved, placed) is written once."""
        conn = uows[0].conn
        rows = await Rows.load(conn, (e.workload_id for e in events if e.workload_id))
        for event, uow in zip(events, uows):
            await APPLIERS[event.type](self, event, uow, rows)
        await rows.flush(conn)

    async def _workload_accepted(self, event: WorkloadAccepted, uow: UnitOfWork, rows: Rows) -> None:
        rows.transition(event.workload_id, status.pending(
            "Accepted", f"admission accepted it; queued in {event.spec.queue or 'default'}"),
            now=utc_now(), phase="pending", only_from=("submitted",))

    async def _workload_rejected(self, event: WorkloadRejected, uow: UnitOfWork, rows: Rows) -> None:
        rows.transition(event.workload_id, status.refused(event.reason, event.message),
                        now=utc_now(), phase="refused", only_from=("submitted", "pending"))

    async def _workload_pending(self, event: WorkloadPending, uow: UnitOfWork, rows: Rows) -> None:
        where = f" (position {event.position})" if event.position else ""
        rows.transition(event.workload_id, status.pending(event.reason, event.message + where),
                        now=utc_now(), phase="pending", only_from=("submitted", "pending", "evicted"))

    async def _quota_reserved(self, event: QuotaReserved, uow: UnitOfWork, rows: Rows) -> None:
        flavors = ", ".join(f"{a.pod_set}: {a.flavor}" for a in event.flavors)
        rows.transition(event.workload_id, status.quota_reserved(event.cluster_queue, flavors),
                        now=utc_now(), phase="reserved", only_from=("submitted", "pending", "evicted"),
                        cluster_queue=event.cluster_queue, clusterQueue=event.cluster_queue)

    async def _workload_unschedulable(self, event: WorkloadUnschedulable, uow: UnitOfWork, rows: Rows) -> None:
        rows.transition(event.workload_id, status.waiting_for_nodes(event.reason, event.message),
                        now=utc_now(), only_from=("reserved",))

    async def _workload_placed(self, event: WorkloadPlaced, uow: UnitOfWork, rows: Rows) -> None:
        if event.cluster != self.cluster:
            return
        row = rows.get(event.workload_id)
        if row is None:
            return
        if row.phase == "deleted":  # the owner deleted it while it waited: give the nodes straight back
            await uow.emit(WorkloadFailed(cluster=self.cluster, reason="deleted", occurred_at=self._at(),
                                          message="the object was deleted before its pods started"),
                           trace=row.trace)
            return
        if row.phase == "failed" and row.evict_reason == "cancelled":
            # placed before the scheduler heard of the cancel, and the cancel already ended here (perhaps even
            # before the scheduler placed it, so that end freed nothing): give the nodes straight back
            await uow.emit(WorkloadFailed(cluster=self.cluster, reason="cancelled", occurred_at=self._at(),
                                          message="cancelled before its pods started"), trace=row.trace)
            return
        if row.phase not in ("submitted", "pending", "reserved", "evicted"):
            return  # placed already: one placement at a time
        assignments = [a.model_dump(mode="json") for a in event.assignments]
        nodes = len({node_name(a["node_id"]) for a in assignments})
        rows.transition(row.workload_id, status.admitted(len(assignments), nodes, row.attempt + 1),
                        now=utc_now(), phase="placed", attempt=row.attempt + 1, assignments=assignments,
                        evict_reason=None, evict_message=None, attempts=row.attempt + 1, nodes=nodes,
                        failures=event.failures, backoff_limit=event.spec.backoff_limit)
        uow.after_commit(lambda: self.touch(row.workload_id))

    async def _preemption_requested(self, event: PreemptionRequested, uow: UnitOfWork, rows: Rows) -> None:
        if rows.transition(event.workload_id, None, now=utc_now(), phase="evicting",
                           only_from=("placed", "running"), evict_reason="preempted",
                           evict_message=event.message[:1000]):
            uow.after_commit(lambda: self.touch(event.workload_id))

    async def _workload_cancelled(self, event: WorkloadCancelled, uow: UnitOfWork, rows: Rows) -> None:
        """Stops a cancelled workload: its pods are deleted and its object suspended (the runner's eviction, which
        then reports it failed, reason cancelled, never requeued). Every copy (admission's, quota's, the
        scheduler's) does the same, once. A placement that comes after the workload ended here binds nothing and
        gives its nodes straight back (``_workload_placed``)."""
        who = event.cancelled_by or "its team"
        message = f"cancelled by {who}" + (f": {event.reason}" if event.reason else "")
        row = rows.get(event.workload_id)
        if row is None or (row.phase == "evicting" and row.evict_reason == "cancelled"):
            return  # not ours, or an earlier copy is being carried out
        if rows.transition(event.workload_id, None, now=utc_now(), phase="evicting",
                           only_from=("submitted", "pending", "reserved", "placed", "running", "evicting",
                                      "evicted"),
                           evict_reason="cancelled", evict_message=message[:1000]):
            uow.after_commit(lambda: self.touch(event.workload_id))

    async def _workload_suspended(self, event: WorkloadSuspended, uow: UnitOfWork, rows: Rows) -> None:
        """Stops a suspended workload's run (the scheduler's copy only: it follows the run's WorkloadPlaced and
        precedes a resumed attempt's): its object is suspended, its pods deleted, and the runner reports
        WorkloadEvicted, reason suspended. A workload still waiting just shows as suspended."""
        if event.placed is None:
            return
        who = event.suspended_by or "its team"
        message = (f"suspended by {who}" + (f": {event.reason}" if event.reason else ""))[:1000]
        if rows.transition(event.workload_id, None, now=utc_now(), phase="evicting",
                           only_from=("placed", "running"), evict_reason="suspended",
                           evict_message=message):
            uow.after_commit(lambda: self.touch(event.workload_id))
        else:
            rows.transition(event.workload_id, status.suspended(message), now=utc_now(),
                            phase="evicted", only_from=("submitted", "pending", "reserved"))

    async def handle_node_repair_transitioned(self, event: NodeRepairTransitioned, uow: UnitOfWork) -> None:
        """Records node repair's instruction for the node (cordon, drain by a deadline, repair, return)."""
        prefix = f"{self.cluster}/"
        if not (event.node_id or "").startswith(prefix):
            return
        name, to, now = event.node_id.removeprefix(prefix), event.to_state, self.now()
        deadline = None
        if to == "draining":  # the grace counts from when the drain reaches the node, in event time
            grace = (event.drain_deadline - event.occurred_at).total_seconds() if event.drain_deadline else 0.0
            deadline = self.clock.wall_after(now, grace)
        await uow.conn.execute(
            "insert into nodes(name, repair_state, drain_deadline_wall, drain_since_wall, drain_reported, "
            "repair_action, repair_id) values ($1, $2, $3, $4, false, $5, $6) on conflict (name) do update set "
            "repair_state = excluded.repair_state, drain_deadline_wall = excluded.drain_deadline_wall, "
            "drain_since_wall = excluded.drain_since_wall, drain_reported = false, "
            "repair_action = excluded.repair_action, repair_id = excluded.repair_id, repair_done_wall = null",
            name, to, deadline, now if to == "draining" else None,
            (event.action if event.action in ("reboot", "reimage", "replace") else "reboot") if to == "repairing"
            else None, str(event.event_id))
        uow.after_commit(lambda: self.touch_node(name))

    def _at(self) -> datetime:
        return self.clock.sim_at(self.now())

    def router(self) -> Router:
        return Router(
            handlers={**dict.fromkeys(APPLIERS, self.handle_workload_event),
                      "NodeRepairTransitioned": self.handle_node_repair_transitioned},
            batch_handlers=dict.fromkeys(APPLIERS, self.handle_workload_events),  # one run, however mixed
            # A priority change acts in quota and the scheduler (who preempts whom); the pods run as they are.
            # Reachability is judged from this connector's own heartbeats; its pods run as they are.
            ignored=frozenset({"QuotaReleased", "WorkloadCancelRefused", "WorkloadRequestRefused",
                               "WorkloadResumed", "WorkloadPriorityChanged", "ClusterReachabilityChanged"}))


# Each workload event type and what it does to the workload's row (built once, not per event).
APPLIERS: dict[str, Callable[[ConnectorHandlers, Event, UnitOfWork, Rows], Awaitable[None]]] = {
    "WorkloadAccepted": ConnectorHandlers._workload_accepted, "WorkloadRejected": ConnectorHandlers._workload_rejected,
    "WorkloadPending": ConnectorHandlers._workload_pending, "QuotaReserved": ConnectorHandlers._quota_reserved,
    "WorkloadUnschedulable": ConnectorHandlers._workload_unschedulable,
    "WorkloadPlaced": ConnectorHandlers._workload_placed,
    "PreemptionRequested": ConnectorHandlers._preemption_requested,
    "WorkloadCancelled": ConnectorHandlers._workload_cancelled,
    "WorkloadSuspended": ConnectorHandlers._workload_suspended}
