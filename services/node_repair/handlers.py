"""Node repair's handlers: learn each node's pool, rack and cluster; queue health reports for the planning cycle;
fold cluster heartbeats into each cluster's row.

Handlers only record; the planning cycle (repair_loop) folds the queued reports into libs/repair's
plan() under one lock, so decisions see every node at once and budgets hold across the fleet.
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

    def router(self) -> Router:
        return Router(handlers={"NodeInventoried": self.handle_node_inventoried,
                                "NodeHealthReported": self.handle_node_health_reported,
                                "ClusterStatusReported": self.handle_cluster_status_reported})
