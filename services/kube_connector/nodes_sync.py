"""Nodes both ways: the cluster's Nodes become inventory and health reports, and node repair's instructions
become cordons (``spec.unschedulable``), drains (evictions once the grace is over) and repairs.

Inventory is published when what it says changes. Health is reported when a condition or fault annotation
changes, and every ``heartbeat_interval_s`` while the node's Lease is fresh: a node whose kubelet stopped
renewing its Lease goes silent, which is how node repair sees a lost heartbeat. A repair is asked of the
node's own agent through the ``batchyard.dev/repair-requested`` annotation (``<action>:<id>``), and its
answer read from ``batchyard.dev/repair-result`` (``<id>:ok`` or ``<id>:failed[:detail]``); on kwok fleets the
connector can pretend instead (``simulated_repairs``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from libs.events import Event, NodeHealthReported
from libs.events.topics import KUBE_CONNECTOR as PRODUCER
from libs.platform.clock import SimClock
from libs.platform.periodic import woken
from libs.platform.unit_of_work import UnitOfWork, insert_outbox
from services.kube_connector import nodes as mapping
from services.kube_connector import repository as repo
from services.kube_connector.api import KubeApi, KubeError, q
from services.kube_connector.config import ConnectorConfig
from services.kube_connector.status import utc_now
from services.kube_connector.informer import DELETED
from services.kube_connector.pod_index import PodIndex, owners_of
from services.kube_connector.pods import node_name

log = logging.getLogger("batchyard.kube_connector.nodes")
REPAIR_REQUESTED, REPAIR_RESULT = "batchyard.dev/repair-requested", "batchyard.dev/repair-result"
# Node repair's states in which the node takes no new pods ("repaired": the connector reported the repair's
# result and waits for node repair's verdict).
OUT_OF_SERVICE = frozenset({"cordoned", "draining", "repairing", "repaired", "retired"})


class NodeSync:
    def __init__(self, api: KubeApi, pool: asyncpg.Pool, config: ConnectorConfig, pods: PodIndex, clock: SimClock,
                 namespace: str, *, on_emitted: Callable[[], None], touch_workload: Callable[[str], None],
                 now: Callable[[], float]) -> None:
        self.api, self.pool, self.config, self.pods, self.clock = api, pool, config, pods, clock
        self.namespace, self.on_emitted, self.touch_workload, self.now = namespace, on_emitted, touch_workload, now
        self.nodes: dict[str, dict] = {}  # name -> latest Node
        self.leases: dict[str, float] = {}  # node name -> unix time of its Lease's last renewal
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.unpriced: set[str] = set()  # instance types already warned about
        self.removed: set[str] = set()  # nodes deleted from the cluster, to report as removed
        # name -> (resourceVersion, inventory, its digest, health signals): the sweep every second reads every node,
        # and most have not changed since the last one (a kwok or kubelet status update comes every ~20 s)
        self._read: dict[str, tuple[str, mapping.Inventory, str, mapping.HealthSignals]] = {}

    def node_changed(self, change: str, node: dict) -> None:
        name = node["metadata"]["name"]
        if change == DELETED:
            self.nodes.pop(name, None)
            self._read.pop(name, None)
            self.removed.add(name)
        else:
            self.nodes[name] = node
        self.touch(name)

    def lease_changed(self, change: str, lease: dict) -> None:
        renew = (lease.get("spec") or {}).get("renewTime")
        if change != DELETED and renew:
            self.leases[lease["metadata"]["name"]] = datetime.fromisoformat(renew.replace("Z", "+00:00")).timestamp()

    def touch(self, name: str) -> None:
        self.dirty.add(name)
        self.wake.set()

    async def run(self) -> None:
        period = min(1.0, self.config.heartbeat_interval_s)
        last_full = 0.0
        while True:
            await woken(self.wake, period)
            if time.monotonic() - last_full >= period:  # however busy: heartbeats, deadlines, repairs come due
                last_full = time.monotonic()
                self.dirty.update(self.nodes)
            batch, self.dirty = sorted(self.dirty), set()
            try:
                await self.sync(batch)
            except (KubeError, OSError, asyncpg.PostgresError) as exc:
                log.warning("nodes: %s; retrying", exc)
                self.dirty.update(batch)

    async def sync(self, names: list[str]) -> None:
        """Reports what changed or came due of ``names`` (in one transaction, however many: a fleet of thousands
        starts in one go), then carries out node repair's instructions for them one by one."""
        async with self.pool.acquire() as conn:
            rows = {r["name"]: r for r in await conn.fetch("select * from nodes where name = any($1)", names)}
        reports = [(name, self._report(self.nodes[name], rows.get(name))) for name in names if name in self.nodes]
        reports = [(name, report) for name, report in reports if report[3]]
        if reports:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(
                    "insert into nodes(name, inventory_digest, health_digest, reported_wall) values ($1, $2, $3, $4) "
                    "on conflict (name) do update set inventory_digest = $2, health_digest = $3, "
                    "reported_wall = case when $5 then $4 else nodes.reported_wall end",
                    [(name, digest, health, now, any(isinstance(e, NodeHealthReported) for e in events))
                     for name, (digest, health, now, events) in reports])
                outbox: list[tuple] = []  # the outbox rows, inserted in one round trip
                uow = UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace, outbox_rows=outbox)
                for _, (_, _, _, events) in reports:
                    for event in events:
                        await uow.emit(event)
                await insert_outbox(conn, outbox)
            self.on_emitted()
        for name in names:
            row = rows.get(name)
            try:
                if name not in self.nodes:
                    if name in self.removed and row is not None and row["inventory_digest"] != "removed":
                        await self._evict_all(name, "the node was deleted (reclaimed)", reason="node-reclaimed")
                        await self._removed(name)
                    continue
                if taint := self._reclaim_taint(self.nodes[name]):
                    await self._evict_all(name, f"the node is being reclaimed (taint {taint})", reason="node-reclaimed")
                if row is not None and row["repair_state"] and await self._carry_out(self.nodes[name], row):
                    self.on_emitted()
            except (KubeError, OSError, asyncpg.PostgresError) as exc:
                log.warning("node %s: %s; retrying", name, exc)
                self.dirty.add(name)

    # -- what the node says ----------------------------------------------------------------------------------

    def _report(self, node: dict, row) -> tuple[str, str, float, list[Event]]:
        """Returns (inventory digest, health digest, now, events to publish) for one node: its inventory if it
        changed, its health if it changed or a heartbeat is due."""
        name, now = node["metadata"]["name"], self.now()
        inv, digest, signals = self._read_node(node)
        fresh = now - self.leases.get(name, 0.0) <= self.config.lease_timeout_s
        changed = row is None or row["health_digest"] != signals.digest()
        due = row is None or row["reported_wall"] is None or now - row["reported_wall"] >= \
            self.config.heartbeat_interval_s
        events: list[Event] = []
        if row is None or row["inventory_digest"] != digest:
            stamp = {"event_id": uuid.uuid4(), "occurred_at": self.clock.sim_at(now)}  # the read may be older
            events.append(inv.event.model_copy(update=stamp))
        if changed or (due and fresh):
            draining = row is not None and row["repair_state"] == "draining"
            events.append(mapping.health_report(
                inv.event.node_id, signals, heartbeat=fresh, at=self.clock.sim_at(now), to_event_time=self._event_time,
                with_faults=changed, running_pods=None if draining else len(self.pods.on(name))))
        return digest, signals.digest(), now, events

    def _read_node(self, node: dict) -> tuple[mapping.Inventory, str, mapping.HealthSignals]:
        """Returns the node's inventory, its digest and its health signals, read again only when the node changed."""
        meta = node["metadata"]
        version = meta.get("resourceVersion") or ""
        known = self._read.get(meta["name"])
        if known is not None and version and known[0] == version:
            return known[1], known[2], known[3]
        inv = mapping.inventory(node, self.config, self.clock.sim_at(self.now()))
        if not inv.priced and inv.event.instance_type not in self.unpriced:
            self.unpriced.add(inv.event.instance_type)
            log.warning("no price for instance type %s (%s): its node-hours cost 0 until the connector's prices "
                        "list it", inv.event.instance_type, mapping.capacity_type(meta.get("labels") or {}))
        read = (version, inv, mapping.inventory_digest(inv.event), mapping.health_signals(node))
        self._read[meta["name"]] = read
        return read[1], read[2], read[3]

    def _event_time(self, wall: datetime) -> datetime:
        return self.clock.sim_at(wall.timestamp())

    async def _removed(self, name: str) -> None:
        last = {"metadata": {"name": name}}
        inv = mapping.inventory(last, self.config, self.clock.sim_at(self.now()), removed=True)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("update nodes set inventory_digest = 'removed' where name = $1", name)
            await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace).emit(inv.event)
        self.removed.discard(name)
        self.on_emitted()

    # -- what node repair asked ------------------------------------------------------------------------------

    async def _carry_out(self, node: dict, row) -> int:
        name, state = node["metadata"]["name"], row["repair_state"]
        want = state in OUT_OF_SERVICE
        if bool((node.get("spec") or {}).get("unschedulable")) != want:
            await self.api.patch(f"/api/v1/nodes/{q(name)}", {"spec": {"unschedulable": want}})
        if state == "draining":
            return await self._drain(node, row)
        if state in ("repairing", "retired"):
            await self._evict_all(name, f"node is {state}")
        if state == "repairing":
            return await self._repair(node, row)
        return 0

    async def _drain(self, node: dict, row) -> int:
        name, now = node["metadata"]["name"], self.now()
        if row["drain_deadline_wall"] is not None and now >= row["drain_deadline_wall"]:
            await self._evict_all(name, "drain grace over")
        if self.pods.on(name) or row["drain_reported"]:
            return 0
        settle = self.config.drain_settle_s / self.clock.scale
        if now - (row["drain_since_wall"] or now) < settle:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("update nodes set drain_reported = true where name = $1 and "
                                       "not drain_reported and repair_state = 'draining' returning true", name):
                return 0
            await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace).emit(NodeHealthReported(
                node_id=mapping.node_id(self.config.cluster, name), occurred_at=self.clock.sim_at(now), running_pods=0))
        return 1

    def _reclaim_taint(self, node: dict) -> str | None:
        """Returns the key of a taint saying the cloud is taking the node back, if it has one."""
        keys = {t.get("key") for t in (node.get("spec") or {}).get("taints") or ()}
        return next((k for k in self.config.reclaim_taints if k in keys), None)

    async def _evict_all(self, name: str, why: str, *, reason: str = "node-drain") -> None:
        """Hands every workload placed on the node (by its pods, or by its assignments: a deleted node's pods may be
        gone already) to the runner for eviction; the runner reports it evicted and quota requeues it."""
        owners = {(p["metadata"]["namespace"], o) for p in self.pods.on(name) for o in owners_of(p)}
        async with self.pool.acquire() as conn, conn.transaction():
            wids = {w for namespace, owner in owners if (w := await conn.fetchval(
                "select workload_id from workloads where namespace = $1 and name = $2 and phase in ('placed', "
                "'running')", namespace, owner))}
            wids |= {wid for wid, assignments in await repo.placed_assignments(conn)
                     if any(node_name(a.get("node_id", "")) == name for a in assignments)}
            for wid in sorted(wids):
                if await repo.transition(conn, wid, None, now=utc_now(), phase="evicting",
                                         only_from=("placed", "running"), evict_reason=reason,
                                         evict_message=f"evicted from {name}: {why}; the workload is requeued"):
                    self.touch_workload(wid)

    async def _repair(self, node: dict, row) -> int:
        name, now = node["metadata"]["name"], self.now()
        annotations = node["metadata"].get("annotations") or {}
        ask = f"{row['repair_action']}:{row['repair_id']}"
        ok: bool | None = None
        detail = ""
        if self.config.simulated_repairs is not None:
            if row["repair_done_wall"] is None:
                seconds = getattr(self.config.simulated_repairs, f"{row['repair_action']}_s")
                async with self.pool.acquire() as conn:
                    await conn.execute("update nodes set repair_done_wall = $2 where name = $1 and "
                                       "repair_done_wall is null", name, self.clock.wall_after(now, seconds))
                return 0
            if now < row["repair_done_wall"]:
                return 0
            ok, detail = True, f"{row['repair_action']} done (simulated)"
        else:
            if annotations.get(REPAIR_REQUESTED) != ask:
                await self.api.patch(f"/api/v1/nodes/{q(name)}", {"metadata": {"annotations": {REPAIR_REQUESTED: ask}}})
                return 0
            result = annotations.get(REPAIR_RESULT, "")
            if not result.startswith(f"{row['repair_id']}:"):
                return 0
            verdict, _, detail = result.removeprefix(f"{row['repair_id']}:").partition(":")
            ok = verdict == "ok"
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("update nodes set repair_state = 'repaired' where name = $1 and "
                                       "repair_state = 'repairing' and repair_id = $2 returning true", name,
                                       row["repair_id"]):
                return 0
            await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace).emit(NodeHealthReported(
                node_id=mapping.node_id(self.config.cluster, name), occurred_at=self.clock.sim_at(now),
                repair_action=row["repair_action"], repair_ok=ok, repair_detail=(detail or "")[:500]))
        return 1
