"""Node repair's handlers: learn each node's pool, rack and cluster; queue health reports for the planning cycle;
fold cluster heartbeats into each cluster's row.

Handlers only record; the planning cycle (repair_loop) folds the queued reports into libs/repair's
plan() under one lock, so decisions see every node at once and budgets hold across the fleet.

A poll batch is one transaction (``handle_batch``): its rows are locked in the planning cycle's order (the clock,
then clusters, then nodes), so a batch and a cycle never wait on each other in a circle.
"""

from __future__ import annotations

from libs.events import ClusterStatusReported, NodeHealthReported, NodeInventoried
from libs.platform.unit_of_work import Router, UnitOfWork
from services.node_repair import repository as repo


class RepairHandlers:
    """Node repair's handlers. They keep no state in memory: nodes and queued reports are rows the planning cycle
    reads under its lock."""

    async def handle_node_inventoried(self, event: NodeInventoried, uow: UnitOfWork) -> None:
        if event.removed:
            return  # a removed node keeps its record and history; retiring it is an ops decision
        await repo.upsert_node(uow.conn, event.node_id, event.pool, event.topology.rack, event.cluster)

    async def handle_node_health_reported(self, event: NodeHealthReported, uow: UnitOfWork) -> None:
        await repo.append_signal(uow.conn, event)

    async def handle_cluster_status_reported(self, event: ClusterStatusReported, uow: UnitOfWork) -> None:
        await repo.hear_cluster(uow.conn, event)

    async def handle_batch(self, events: list, uows: list[UnitOfWork]) -> None:
        """A poll batch's inventories, health reports and cluster heartbeats (in the order they came), as handling
        each in turn would leave the rows, in a few statements: the clock advanced once to the newest report, each
        cluster's heartbeats folded in order (clusters by name), each node's last inventory (nodes by id), then
        every health report queued in order."""
        conn = uows[0].conn
        timed = [e for e in events if not isinstance(e, NodeInventoried)]
        if timed:
            await repo.advance_clock(conn, max(e.occurred_at for e in timed))
        beats = [e for e in events if isinstance(e, ClusterStatusReported)]
        for cluster in sorted({e.cluster for e in beats}):
            for event in (e for e in beats if e.cluster == cluster):
                await repo.fold_cluster(conn, event)
        nodes = {e.node_id: (e.node_id, e.pool, e.topology.rack, e.cluster) for e in events
                 if isinstance(e, NodeInventoried) and not e.removed}
        await repo.upsert_nodes(conn, [nodes[n] for n in sorted(nodes)])
        await repo.append_signals(conn, [e for e in events if isinstance(e, NodeHealthReported)])

    def router(self) -> Router:
        batch = self.handle_batch  # one handler for the three: a poll batch is one run, however they interleave
        return Router(handlers={"NodeInventoried": self.handle_node_inventoried,
                                "NodeHealthReported": self.handle_node_health_reported,
                                "ClusterStatusReported": self.handle_cluster_status_reported},
                      batch_handlers={"NodeInventoried": batch, "NodeHealthReported": batch,
                                      "ClusterStatusReported": batch})
