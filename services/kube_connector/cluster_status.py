"""The cluster's heartbeat: every ``cluster_heartbeat_s`` the connector asks its API server ``/readyz`` and reports
the answer (ClusterStatusReported, keyed by cluster). Node repair judges the cluster unreachable when no reachable
report comes for its grace, whether the API server is down, the path to it is cut, or this connector is; then the
cluster's nodes take no new work and their silence is not taken for dead nodes (libs/repair/clusters.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

from libs.events import ClusterStatusReported
from libs.events.topics import KUBE_CONNECTOR as PRODUCER
from libs.platform.clock import SimClock
from libs.platform.periodic import every
from libs.platform.unit_of_work import UnitOfWork
from services.kube_connector.api import KubeApi, KubeError

log = logging.getLogger("batchyard.kube_connector.cluster")


class ClusterPulse:
    def __init__(self, api: KubeApi, pool: asyncpg.Pool, cluster: str, clock: SimClock, namespace: str, *,
                 period_s: float, on_emitted: Callable[[], None], now: Callable[[], float]) -> None:
        self.api, self.pool, self.cluster, self.clock, self.namespace = api, pool, cluster, clock, namespace
        self.period_s, self.on_emitted, self.now = period_s, on_emitted, now
        self.reachable: bool | None = None  # the last answer (logged on change)

    async def beat(self) -> ClusterStatusReported:
        """Asks the API server once and records the answer in the outbox; returns the report (the relay is woken)."""
        try:
            await self.api.ready(timeout=max(1.0, min(10.0, self.period_s)))
            reachable, message = True, ""
        except KubeError as exc:
            reachable, message = False, str(exc)[:500]
        if reachable != self.reachable:
            (log.info if reachable else log.warning)("cluster %s API server %s%s", self.cluster,
                                                     "reachable" if reachable else "UNREACHABLE: ", message)
            self.reachable = reachable
        report = ClusterStatusReported(cluster=self.cluster, reachable=reachable, message=message,
                                       occurred_at=self.clock.sim_at(self.now()))
        async with self.pool.acquire() as conn, conn.transaction():
            await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace).emit(report)
        return report

    async def run(self) -> None:
        """Beats every ``period_s``; a beat that could not be recorded is logged and is silence, which says as much."""
        await every(self.period_s, self.beat, name=f"cluster {self.cluster} heartbeat", wake=self.on_emitted)
