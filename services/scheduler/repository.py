"""The scheduler's rows: nodes, repair states, placements (exact GPUs) and pending reservations.

Postgres is the primary source of the in-memory snapshot: ``load_placer`` rebuilds it after a restart or a
takeover; the topics then replay whatever came after the committed offsets.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from libs.events import ClusterReachabilityChanged, NodeInventoried, QuotaReserved, Tenant
from libs.placement import BoundPod, PlacementPolicy, Snapshot
from services.scheduler.adapters import decode_pods, encode_pods, node_spec_of_stored
from services.scheduler.engine import Pending, Placer, pending_of

log = logging.getLogger("batchyard.scheduler")


@dataclass(frozen=True)
class NewPlacement:
    """A placement decided in this transaction, as stored (its pending row is deleted beside it)."""

    workload_id: str
    cluster: str
    pods: tuple[BoundPod, ...]  # exact nodes and GPUs
    priority: int  # node-level preemption weighs the bound gang by it
    started_at: float  # scheduler clock: starts the minimum runtime before it may be preempted
    tenant: Tenant | None  # stamped on a PreemptionRequested against it
    trace: dict[str, str]  # W3C context: a preemption of it joins its trace


class SchedulerStore(Protocol):
    """What the handlers write: the rows ``load_placer`` rebuilds the snapshot from. ``conn`` is the consumer
    transaction's connection (a fake may ignore it)."""

    async def save_node(self, conn, event: NodeInventoried) -> None: ...

    async def save_repair_state(self, conn, node_id: str, state: str) -> None: ...

    async def save_cluster_reachability(self, conn, event: ClusterReachabilityChanged) -> None: ...

    async def save_pod_mix(self, conn, state: dict) -> None: ...

    async def add_pending_many(self, conn, reservations: list[tuple[QuotaReserved, str]]) -> dict[str, int]: ...

    async def set_priority(self, conn, workload_id: str, priority: int, *, pending: bool, bound: bool) -> None: ...

    async def set_pending_reason(self, conn, workload_id: str, reason: str, victims: list[str] | None = None) -> None:
        ...

    async def delete_pending(self, conn, workload_id: str) -> None: ...

    async def delete_pending_many(self, conn, workload_ids: list[str]) -> None: ...

    async def save_placements(self, conn, placements: list[NewPlacement]) -> None: ...

    async def delete_workload(self, conn, workload_id: str) -> bool: ...


class PostgresSchedulerStore:
    """The scheduler's schema in PostgreSQL (``migrations/``)."""

    async def save_node(self, conn: asyncpg.Connection, event: NodeInventoried) -> None:
        if event.removed:
            await conn.execute("delete from nodes where node_id = $1", event.node_id)
            return
        await conn.execute("insert into nodes(node_id, spec) values ($1, $2::jsonb) on conflict (node_id) "
                           "do update set spec = excluded.spec", event.node_id, event.model_dump_json())

    async def save_repair_state(self, conn: asyncpg.Connection, node_id: str, state: str) -> None:
        await conn.execute("insert into node_states(node_id, repair_state) values ($1, $2) on conflict (node_id) "
                           "do update set repair_state = excluded.repair_state", node_id, state)

    async def save_cluster_reachability(self, conn: asyncpg.Connection, event: ClusterReachabilityChanged) -> None:
        if event.reachable:
            await conn.execute("delete from unreachable_clusters where cluster = $1", event.cluster)
        else:
            await conn.execute("insert into unreachable_clusters(cluster, since, message) values ($1, $2, $3) "
                               "on conflict (cluster) do update set since = excluded.since, message = excluded.message",
                               event.cluster, event.since, event.message)

    async def save_pod_mix(self, conn: asyncpg.Connection, state: dict) -> None:
        await conn.execute("insert into pod_mix(id, state) values (1, $1::jsonb) on conflict (id) do update "
                           "set state = excluded.state", json.dumps(state))

    async def add_pending_many(self, conn: asyncpg.Connection,
                               reservations: list[tuple[QuotaReserved, str]]) -> dict[str, int]:
        """Stores reservations with their trace contexts in one statement (a newer one of the same workload
        replaces it: the later of two in ``reservations`` wins); returns each workload's arrival number.

        Redeliveries never get here (the inbox drops them), so a second reservation of a workload is quota's
        newer decision: another flavor, or a requeue after an eviction whose end may not have reached us yet.
        A replaced row keeps its arrival number. One statement may not update a row twice, so the list is first
        cut to each workload's latest reservation, kept where the workload first came (as one by one: the first
        insert numbers it, later ones keep that number).
        """
        latest: dict[str, tuple[QuotaReserved, str]] = {}
        for reservation, trace in reservations:
            latest[reservation.workload_id] = (reservation, trace)
        if not latest:
            return {}
        rows = await conn.fetch(
            "insert into pending(workload_id, reservation, trace, priority) select w, r::jsonb, t::jsonb, p "
            "from unnest($1::text[], $2::text[], $3::text[], $4::int[]) with ordinality as u(w, r, t, p, n) "
            "order by n on conflict (workload_id) do update set reservation = excluded.reservation, "
            "trace = excluded.trace, priority = excluded.priority, last_reason = null, victims = '{}' "
            "returning workload_id, seq",
            list(latest), [r.model_dump_json() for r, _ in latest.values()], [t for _, t in latest.values()],
            [r.priority for r, _ in latest.values()])
        return {row["workload_id"]: row["seq"] for row in rows}

    async def set_priority(self, conn: asyncpg.Connection, workload_id: str, priority: int, *, pending: bool,
                           bound: bool) -> None:
        """Stores a workload's new priority in its pending reservation and in its placement."""
        if pending:
            await conn.execute("update pending set priority = $2, reservation = jsonb_set(reservation, '{priority}', "
                               "to_jsonb($2::int)) where workload_id = $1", workload_id, priority)
        if bound:
            await conn.execute("update placements set priority = $2 where workload_id = $1", workload_id, priority)

    async def set_pending_reason(self, conn: asyncpg.Connection, workload_id: str, reason: str,
                                 victims: list[str] | None = None) -> None:
        await conn.execute("update pending set last_reason = $2, victims = coalesce($3, victims) "
                           "where workload_id = $1", workload_id, reason, victims)

    async def delete_pending(self, conn: asyncpg.Connection, workload_id: str) -> None:
        await conn.execute("delete from pending where workload_id = $1", workload_id)

    async def delete_pending_many(self, conn: asyncpg.Connection, workload_ids: list[str]) -> None:
        """Drops the pending rows of the workloads a cycle placed or handed back to quota, in one statement."""
        if workload_ids:
            await conn.execute("delete from pending where workload_id = any($1::text[])", workload_ids)

    async def save_placements(self, conn: asyncpg.Connection, placements: list[NewPlacement]) -> None:
        """Stores a cycle's placements in one statement (the caller deletes their pending rows beside it)."""
        if not placements:
            return
        await conn.execute(
            "insert into placements(workload_id, cluster, bound, priority, started_at, tenant, trace) "
            "select w, c, b::jsonb, p, s, t::jsonb, x::jsonb from unnest($1::text[], $2::text[], $3::text[], "
            "$4::int[], $5::float8[], $6::text[], $7::text[]) as u(w, c, b, p, s, t, x)",
            [p.workload_id for p in placements], [p.cluster for p in placements],
            [encode_pods(p.pods) for p in placements], [p.priority for p in placements],
            [p.started_at for p in placements],
            [p.tenant.model_dump_json() if p.tenant else None for p in placements],
            [json.dumps(p.trace) for p in placements])

    async def delete_workload(self, conn: asyncpg.Connection, workload_id: str) -> bool:
        """Forgets a finished or evicted run; returns whether it had a placement (else it leaves the queue too)."""
        placed = await conn.fetchval("delete from placements where workload_id = $1 returning true", workload_id)
        if not placed:
            await conn.execute("delete from pending where workload_id = $1", workload_id)
        return bool(placed)


async def load_placer(pool: asyncpg.Pool, policy: PlacementPolicy, *, clock: Callable[[], float],
                      preemption: bool, min_runtime_s: float) -> Placer:
    """Returns the scheduler state as Postgres knows it: nodes, repair states, bound pods, pending gangs."""
    started = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        states = {r["node_id"]: r["repair_state"] for r in await conn.fetch("select * from node_states")}
        rows = await conn.fetch("select spec from nodes order by node_id")  # fixed slot order: ties (ADR 0006)
        placed = await conn.fetch("select workload_id, bound, pods, priority, started_at, tenant, trace "
                                  "from placements")
        waiting = await conn.fetch("select workload_id, seq, reservation, last_reason, trace, victims from pending")
        unreachable = [r["cluster"] for r in await conn.fetch("select cluster from unreachable_clusters")]
        mix = await conn.fetchval("select state from pod_mix where id = 1")
    nodes = [json.loads(r["spec"]) for r in rows]  # our own validated events: no second validation
    snapshot = Snapshot.from_nodes(node_spec_of_stored(n, states.get(n["node_id"])) for n in nodes)
    placer = Placer(snapshot, policy, clock=clock, preemption=preemption, min_runtime_s=min_runtime_s)
    placer.repair.update(states)
    for cluster in unreachable:
        placer.set_cluster_reachable(cluster, False)
    if mix is not None:
        placer.restore_mix(json.loads(mix) if isinstance(mix, str) else mix)
    _bind_all(placer, _bound_pods(placed, snapshot))
    _bind_legacy(placer, placed)
    tenants: dict[str, Tenant] = {}  # a few distinct tenants own many placements: parse each once
    for r in placed:
        raw = r["tenant"]
        if raw and raw not in tenants:
            tenants[raw] = Tenant.model_validate_json(raw)
        placer.owners[r["workload_id"]] = tenants.get(raw) if raw else None
        if r["trace"]:
            placer.traces[r["workload_id"]] = json.loads(r["trace"])
    for row in waiting:
        placer.enqueue(_pending_of_row(row))
    log.info("snapshot rebuilt from Postgres: %d nodes, %d pods of %d workloads, %d pending in %.3fs",
             len(nodes), len(placer.snapshot.pods), len(placed), len(placer.pending), time.perf_counter() - started)
    return placer


def _pending_of_row(row) -> Pending:
    return pending_of(QuotaReserved.model_validate_json(row["reservation"]), row["seq"], json.loads(row["trace"]),
                      row["last_reason"], row["victims"] or ())


def _bound_pods(rows, snapshot: Snapshot) -> list[BoundPod]:
    """Returns the stored pods on known nodes (a removed node's pods vanished with it)."""
    pods: list[BoundPod] = []
    for row in rows:
        if row["bound"] is not None:
            pods += decode_pods(row["workload_id"], row["bound"], row["priority"], row["started_at"] or 0.0)
    return [p for p in pods if p.node in snapshot.index]


def _bind_legacy(placer: Placer, rows) -> None:
    """Binds placements the first-fit scheduler wrote (no exact GPUs): free GPUs are taken at bind time."""
    snapshot = placer.snapshot
    for row in rows:
        if row["bound"] is not None:
            continue
        for i, (node, cpu, mem, gpu_milli) in enumerate(json.loads(row["pods"])):
            if node not in snapshot.index:
                continue
            count, milli = (gpu_milli // 1000, 1000) if gpu_milli >= 1000 else (1 if gpu_milli else 0, gpu_milli)
            gpus = snapshot.choose_gpus(snapshot.index[node], count, milli)
            pod = BoundPod(f"{row['workload_id']}/legacy/{i}", row["workload_id"], node, cpu, mem, gpus,
                           row["priority"], row["started_at"] or 0.0)
            try:
                placer.bind([pod])
            except ValueError as why:
                log.warning("stored pod skipped at rebuild: %s", why)


def _bind_all(placer: Placer, pods: list[BoundPod]) -> None:
    """Binds in bulk; if the stored pods over-allocate a node (it shrank), binds one by one and skips misfits."""
    try:
        placer.snapshot.bind_many(pods)
    except ValueError as exc:
        log.warning("bulk rebuild failed (%s); binding pod by pod", exc)
        for pod in pods:
            try:
                placer.snapshot.bind(pod)
            except ValueError as why:
                log.warning("stored pod skipped at rebuild: %s", why)
