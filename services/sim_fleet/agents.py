"""Simulated node agents: periodic reports (heartbeat + occupancy), injected faults and storms, drains
and repairs. Each step is one transaction through the outbox, so a SIGKILL loses or repeats nothing."""

from __future__ import annotations

import hashlib
import json
import random
import time

import asyncpg

from libs.events import NodeHealthReported, Tenant, WorkloadEvicted
from libs.fleet.spec import FleetSpec
from libs.platform.unit_of_work import UnitOfWork
from libs.platform.clock import SimClock

XIDS = (48, 79, 94, 95, 63, 74, 13, 31, 43, 119)  # a mix of node faults and application-caused XIDs


def fraction(*parts: object) -> float:
    """Returns a reproducible number in [0, 1) for ``parts`` (the same on every run and after restarts)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class NodeAgents:
    def __init__(self, pool: asyncpg.Pool, clock: SimClock, fleet: FleetSpec, namespace: str, *,
                 seed: int = 7) -> None:
        self.pool, self.clock, self.fleet, self.namespace = pool, clock, fleet, namespace
        self.faults = fleet.faults
        self.rng = random.Random(seed)
        self.nodes = [(e.node_id, e.pool, e.cluster) for e in fleet.node_events()]
        self.gpus = {e.node_id: e.gpu for e in fleet.node_events()}
        self._last = time.time()

    def _uow(self, conn) -> UnitOfWork:
        return UnitOfWork(conn=conn, producer="sim-fleet", namespace=self.namespace)

    async def register(self) -> None:
        """Creates every node's agent row; first reports are spread over one report interval."""
        now, interval = time.time(), self.faults.heartbeat_interval_s / self.clock.scale
        async with self.pool.acquire() as conn:
            await conn.executemany(
                "insert into nodes(node_id, pool, next_report_wall) values ($1, $2, $3) on conflict do nothing",
                [(n, p, now + fraction(n) * interval) for n, p, _ in self.nodes])

    async def step(self) -> int:
        """Runs one tick of every agent duty; returns how many events it emitted."""
        return (await self.report() + await self.inject_faults() + await self.strike_storms()
                + await self.drain() + await self.finish_repairs())

    async def report(self) -> int:
        """Emits the periodic report of every agent that is due and able to speak."""
        now = time.time()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "select * from nodes where next_report_wall <= $1 and state not in ('repairing', 'retired') "
                "and (silent_until_wall is null or silent_until_wall <= $1) for update skip locked", now)
            counts = {r["node"]: r["n"] for r in await conn.fetch(
                "select unnest(nodes) as node, count(*) as n from pods group by 1")}
            uow = self._uow(conn)
            for row in rows:
                pods = counts.get(row["node_id"], 0)
                conditions, since = {"Ready": True}, {}
                if row["disk_pressure_since"] is not None:
                    conditions["DiskPressure"], since["DiskPressure"] = True, row["disk_pressure_since"]
                draining = row["state"] == "draining"  # only drain() may say a draining node is empty
                await uow.emit(NodeHealthReported(
                    node_id=row["node_id"], occurred_at=self.clock.sim_at(now), conditions=conditions,
                    conditions_since=since, running_pods=None if draining else pods,
                    termination_grace_s=None if draining else self.faults.termination_grace_s))
            await conn.executemany("update nodes set next_report_wall = $2 where node_id = $1",
                                   [(r["node_id"], self.clock.wall_after(now, self.faults.heartbeat_interval_s))
                                    for r in rows])
        return len(rows)

    async def inject_faults(self) -> int:
        """Draws faults at the spec's rates for every node in service; returns how many struck."""
        now = time.time()
        hours = (now - self._last) * self.clock.scale / 3600
        self._last = now
        f = self.faults
        async with self.pool.acquire() as conn, conn.transaction():
            live = {r["node_id"]: r for r in await conn.fetch(
                "select * from nodes where state not in ('repairing', 'retired')")}
            uow, at, struck = self._uow(conn), self.clock.sim_at(now), 0
            for node_id, _, _ in self.nodes:
                row = live.get(node_id)
                draws = [self.rng.random() for _ in range(4)]  # always four draws: reproducible per seed
                if row is None or (row["silent_until_wall"] or 0) > now:
                    continue
                gpus = self.gpus[node_id]
                gpu = self.rng.randrange(max(gpus, 1))
                if gpus and draws[0] < f.gpu_xid_per_node_hour * hours:
                    await uow.emit(NodeHealthReported(node_id=node_id, occurred_at=at, gpu=gpu,
                                                      xid_codes=(self.rng.choice(XIDS),)))
                elif gpus and draws[1] < f.ecc_uncorrectable_per_node_hour * hours:
                    await uow.emit(NodeHealthReported(node_id=node_id, occurred_at=at, gpu=gpu,
                                                      ecc_uncorrectable=1 + self.rng.randrange(3)))
                elif draws[2] < f.disk_pressure_per_node_hour * hours and row["disk_pressure_since"] is None:
                    await conn.execute("update nodes set disk_pressure_since = $2 where node_id = $1", node_id, at)
                    await uow.emit(NodeHealthReported(node_id=node_id, occurred_at=at, disk_used_percent=97,
                                                      conditions={"DiskPressure": True},
                                                      conditions_since={"DiskPressure": at}))
                elif draws[3] < f.heartbeat_loss_per_node_hour * hours:
                    await conn.execute("update nodes set silent_until_wall = $2 where node_id = $1", node_id,
                                       self.clock.wall_after(now, f.outage_s))
                else:
                    continue
                struck += 1
        return struck

    async def strike_storms(self) -> int:
        """Strikes every storm whose time has come: a share of a pool logs a critical XID at once."""
        now = time.time()
        at = self.clock.sim_at(now)
        due = [(i, s) for i, s in enumerate(self.faults.storms)
               if self.clock.sim_start.timestamp() + s.after_s <= at.timestamp()]
        if not due:
            return 0
        emitted = 0
        async with self.pool.acquire() as conn, conn.transaction():
            uow = self._uow(conn)
            for i, storm in due:
                if not await conn.fetchval("insert into storms(idx, struck_at) values ($1, $2) on conflict do "
                                           "nothing returning true", i, at):
                    continue
                members = sorted((n for n, p, _ in self.nodes if p == storm.pool),
                                 key=lambda n: fraction("storm", i, n))
                for node_id in members[:int(storm.share * len(members))]:
                    await uow.emit(NodeHealthReported(node_id=node_id, occurred_at=at, gpu=0,
                                                      xid_codes=(storm.xid,)))
                    emitted += 1
        return emitted

    async def drain(self) -> int:
        """Evicts gangs from nodes whose drain grace is over or that are under repair; reports emptied nodes."""
        now = time.time()
        async with self.pool.acquire() as conn, conn.transaction():
            gone = await conn.fetch(
                "select node_id, state from nodes where state in ('repairing', 'retired') or "
                "(state = 'draining' and drain_deadline_wall <= $1)", now)
            uow, emitted = self._uow(conn), 0
            for node in gone:
                for pod in await conn.fetch("delete from pods where $1 = any(nodes) returning *", node["node_id"]):
                    await self._evict(uow, pod, node["node_id"], node["state"], now)
                    emitted += 1
            emptied = await conn.fetch(
                "update nodes n set drain_reported = true where state = 'draining' and not drain_reported and "
                "drain_since_wall <= $1 and not exists (select 1 from pods where n.node_id = any(nodes)) "
                "returning node_id", now - self.faults.drain_settle_s / self.clock.scale)
            for row in emptied:
                await uow.emit(NodeHealthReported(node_id=row["node_id"], occurred_at=self.clock.sim_at(now),
                                                  running_pods=0))
        return emitted + len(emptied)

    async def _evict(self, uow: UnitOfWork, pod, node_id: str, state: str, now: float) -> None:
        tenant = Tenant(org=pod["org"], team=pod["team"]) if pod["org"] else None
        why = ("drain grace over" if state == "draining" else f"node is {state}")
        event = WorkloadEvicted(workload_id=pod["workload_id"], tenant=tenant, cluster=pod["cluster"],
                                reason="node-drain", occurred_at=self.clock.sim_at(now),
                                message=f"evicted from {node_id}: {why}; the workload is requeued")
        await uow.emit(event, trace=json.loads(pod["trace"]))

    async def finish_repairs(self) -> int:
        """Reports every repair whose simulated duration has passed (the planner decides what happens next)."""
        now = time.time()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "update nodes set repair_done_wall = null, next_report_wall = $1, "
                "silent_until_wall = case when repair_ok then null else silent_until_wall end, "
                "disk_pressure_since = case when repair_ok and repair_action <> 'reboot' then null "
                "else disk_pressure_since end where state = 'repairing' and repair_done_wall <= $1 "
                "returning node_id, repair_action, repair_ok", now)
            uow = self._uow(conn)
            for r in rows:
                detail = f"{r['repair_action']} {'done' if r['repair_ok'] else 'failed (injected)'}"
                await uow.emit(NodeHealthReported(node_id=r["node_id"], occurred_at=self.clock.sim_at(now),
                                                  repair_action=r["repair_action"], repair_ok=r["repair_ok"],
                                                  repair_detail=detail))
        return len(rows)
