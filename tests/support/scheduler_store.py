"""An in-memory ``SchedulerStore``: the scheduler's rows as dicts, for handler tests without PostgreSQL.

It keeps what ``services.scheduler.repository.PostgresSchedulerStore`` keeps, with the same replace-on-conflict
rules, so a test can check what the handlers would have written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.events import ClusterReachabilityChanged, NodeInventoried, QuotaReserved, Tenant
from libs.placement import BoundPod
from services.scheduler.repository import NewPlacement


@dataclass
class PendingRow:
    seq: int
    reservation: QuotaReserved
    trace: str
    priority: int
    last_reason: str | None = None
    victims: list[str] = field(default_factory=list)


@dataclass
class PlacementRow:
    cluster: str
    pods: list[BoundPod]
    priority: int
    started_at: float
    tenant: Tenant | None
    trace: dict[str, str]


class InMemorySchedulerStore:
    """Implements ``SchedulerStore``; ``conn`` is ignored."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInventoried] = {}
        self.repair_states: dict[str, str] = {}
        self.unreachable: dict[str, ClusterReachabilityChanged] = {}
        self.pod_mix: dict | None = None
        self.pending: dict[str, PendingRow] = {}
        self.placements: dict[str, PlacementRow] = {}
        self._seq = 0

    async def save_node(self, conn, event: NodeInventoried) -> None:
        if event.removed:
            self.nodes.pop(event.node_id, None)
        else:
            self.nodes[event.node_id] = event

    async def save_repair_state(self, conn, node_id: str, state: str) -> None:
        self.repair_states[node_id] = state

    async def save_cluster_reachability(self, conn, event: ClusterReachabilityChanged) -> None:
        if event.reachable:
            self.unreachable.pop(event.cluster, None)
        else:
            self.unreachable[event.cluster] = event

    async def save_pod_mix(self, conn, state: dict) -> None:
        self.pod_mix = state

    async def add_pending_many(self, conn, reservations: list[tuple[QuotaReserved, str]]) -> dict[str, int]:
        seqs = {}
        for reservation, trace in reservations:  # one by one: the later of the same workload wins, keeps its seq
            row = self.pending.get(reservation.workload_id)
            if row is None:
                self._seq += 1
                row = self.pending[reservation.workload_id] = PendingRow(self._seq, reservation, trace,
                                                                         reservation.priority)
            row.reservation, row.trace, row.priority, row.last_reason, row.victims = (
                reservation, trace, reservation.priority, None, [])
            seqs[reservation.workload_id] = row.seq
        return seqs

    async def set_priority(self, conn, workload_id: str, priority: int, *, pending: bool, bound: bool) -> None:
        if pending and workload_id in self.pending:
            row = self.pending[workload_id]
            row.priority, row.reservation = priority, row.reservation.model_copy(update={"priority": priority})
        if bound and workload_id in self.placements:
            self.placements[workload_id].priority = priority

    async def set_pending_reason(self, conn, workload_id: str, reason: str, victims: list[str] | None = None) -> None:
        if workload_id in self.pending:
            row = self.pending[workload_id]
            row.last_reason = reason
            if victims is not None:
                row.victims = list(victims)

    async def delete_pending(self, conn, workload_id: str) -> None:
        self.pending.pop(workload_id, None)

    async def delete_pending_many(self, conn, workload_ids: list[str]) -> None:
        for workload_id in workload_ids:
            self.pending.pop(workload_id, None)

    async def save_placements(self, conn, placements: list[NewPlacement]) -> None:
        for p in placements:
            if p.workload_id in self.placements:
                raise ValueError(f"duplicate key: placement of {p.workload_id} exists")  # the table's primary key
            self.placements[p.workload_id] = PlacementRow(p.cluster, list(p.pods), p.priority, p.started_at,
                                                          p.tenant, p.trace)

    async def delete_workload(self, conn, workload_id: str) -> bool:
        placed = self.placements.pop(workload_id, None) is not None
        if not placed:
            self.pending.pop(workload_id, None)
        return placed
