"""Cost reporting handlers: learn prices, placements and lifetimes; accrue once all three are known.

Placement and lifecycle events arrive on different topics, so in either order; the accrual happens
when the last of them arrives, exactly once (a unique ledger key backs the inbox).
"""

from __future__ import annotations

import json

from libs.events import CostAccrued, Event, NodeInventoried, WorkloadPlaced, WorkloadRunning
from libs.platform.unit_of_work import Router, UnitOfWork
from services.cost_reporting.shares import amount_micros, node_shares


async def handle_node_inventoried(event: NodeInventoried, uow: UnitOfWork) -> None:
    await uow.conn.execute(
        "insert into nodes(node_id, cluster, pool, gpu_model, cpu_milli, memory_mib, gpu, price_micros) "
        "values ($1,$2,$3,$4,$5,$6,$7,$8) on conflict (node_id) do update set cluster = excluded.cluster, "
        "pool = excluded.pool, gpu_model = excluded.gpu_model, cpu_milli = excluded.cpu_milli, "
        "memory_mib = excluded.memory_mib, gpu = excluded.gpu, price_micros = excluded.price_micros",
        event.node_id, event.cluster, event.pool, event.gpu_model, event.cpu_milli, event.memory_mib, event.gpu,
        event.price_per_hour_micros)


async def handle_workload_placed(event: WorkloadPlaced, uow: UnitOfWork) -> None:
    ids = sorted({a.node_id for a in event.assignments})
    rows = await uow.conn.fetch("select * from nodes where node_id = any($1::text[])", ids)
    shares = node_shares(event, {r["node_id"]: dict(r) for r in rows})
    await _upsert(uow, event, shares=json.dumps(shares), cluster=event.cluster,
                  queue=event.spec.queue)
    await _accrue_if_complete(event, uow)


async def handle_workload_running(event: WorkloadRunning, uow: UnitOfWork) -> None:
    await _upsert(uow, event, started_at=event.occurred_at)
    await _accrue_if_complete(event, uow)


async def handle_workload_ended(event: Event, uow: UnitOfWork) -> None:
    await _upsert(uow, event, ended_at=event.occurred_at)
    await _accrue_if_complete(event, uow)


async def _upsert(uow: UnitOfWork, event: Event, **fields) -> None:
    tenant = event.tenant
    await uow.conn.execute("insert into workloads(workload_id, org, team) values ($1, $2, $3) "
                           "on conflict do nothing", event.workload_id, tenant.org if tenant else None,
                           tenant.team if tenant else None)
    casts = ["::jsonb" if name == "shares" else "" for name in fields]
    sets = ", ".join(f"{name} = coalesce({name}, ${i}{cast})"
                     for i, (name, cast) in enumerate(zip(fields, casts), start=2))
    await uow.conn.execute(f"update workloads set {sets} where workload_id = $1", event.workload_id,
                           *fields.values())


async def _accrue_if_complete(event: Event, uow: UnitOfWork) -> None:
    """Writes the ledger rows and emits CostAccrued once placement, start and end are all known."""
    w = await uow.conn.fetchrow("update workloads set accrued = true where workload_id = $1 and not accrued and "
                                "shares is not null and started_at is not null and ended_at is not null "
                                "returning *", event.workload_id)
    if w is None:
        return
    shares = json.loads(w["shares"])
    seconds = max(0.0, (w["ended_at"] - w["started_at"]).total_seconds())
    nodes = {r["node_id"]: r for r in await uow.conn.fetch("select * from nodes where node_id = any($1::text[])",
                                                          list(shares))}
    for node_id, share in sorted(shares.items()):
        node = nodes[node_id]
        amount = amount_micros(node["price_micros"], share, seconds)
        inserted = await uow.conn.fetchval(
            "insert into ledger(workload_id, node_id, org, team, queue, cluster, pool, gpu_model, interval_start, "
            "interval_end, share, amount_micros, source_event) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
            "on conflict do nothing returning true", w["workload_id"], node_id, w["org"], w["team"], w["queue"],
            node["cluster"], node["pool"], node["gpu_model"], w["started_at"], w["ended_at"], share, amount,
            event.event_id)
        if inserted:
            await uow.emit(CostAccrued(workload_id=w["workload_id"], node_id=node_id, cluster=node["cluster"],
                                       pool=node["pool"], queue=w["queue"], gpu_model=node["gpu_model"],
                                       start=w["started_at"], end=w["ended_at"], amount_micros=amount, share=share))


router = Router(
    handlers={"NodeInventoried": handle_node_inventoried, "WorkloadPlaced": handle_workload_placed,
              "WorkloadRunning": handle_workload_running, "WorkloadSucceeded": handle_workload_ended,
              "WorkloadFailed": handle_workload_ended, "WorkloadEvicted": handle_workload_ended},
    ignored=frozenset({"WorkloadUnschedulable", "PreemptionRequested"}))
