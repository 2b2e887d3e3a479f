"""Re-booking node-hours: compute each one's truth with libs/cost, append the delta rows, tell finance.

Every caller (a workload event, the hour closer, a price change) holds the ledger lock, so the rows read
here are all the rows there are. ``delta_rows`` returns nothing when a node-hour already matches its truth,
which is what makes replays, duplicates and re-closing harmless.
"""

from __future__ import annotations

from collections.abc import Iterable

from libs.cost import IDLE, CostConfig, LedgerRow, NodeHour, PriceKey, PriceLookupError, cost_node_hour, delta_rows
from libs.cost.usage import HOUR
from libs.events import CostAccrued, Tenant
from libs.platform.unit_of_work import UnitOfWork
from services.cost_reporting import repository as repo
from services.cost_reporting.usage import to_interval

CONFIG = CostConfig()  # GPU nodes 90/5/5 (GPU, CPU, memory), CPU nodes 50/50; see docs/cost.md


async def rebook(uow: UnitOfWork, node_hours: Iterable[NodeHour], source: str) -> list[LedgerRow]:
    """Returns the rows appended so each node-hour equals its current truth; emits CostAccrued per workload row.

    Node-hours without a known node or price are remembered as pending and retried by the closer.
    """
    node_hours = sorted(set(node_hours))
    if not node_hours:
        return []
    conn = uow.conn
    nodes = await repo.node_specs(conn, (n for n, _ in node_hours))
    catalog = await repo.load_catalog(conn)
    closed = (await repo.clock(conn))["closed_through"]
    hours = [h for _, h in node_hours]
    allocs = await repo.allocations_on(conn, sorted(nodes), min(hours), max(hours) + HOUR)
    existing = await repo.ledger_rows(conn, node_hours)
    rows: list[LedgerRow] = []
    shares: dict[str, float] = {}
    pending, priced = [], []
    for node, hour in node_hours:
        spec = nodes.get(node)
        try:
            if spec is None:
                raise PriceLookupError(f"node {node} is not inventoried yet")
            price = catalog.price_at(PriceKey(spec.cluster, spec.pool, spec.instance_type), hour)
        except PriceLookupError:
            pending.append((node, hour))
            continue
        truth = cost_node_hour(spec, hour, price, [to_interval(a, closed) for a in allocs.get(node, [])], CONFIG)
        new = delta_rows(existing.get((node, hour), []), truth, source)
        for r in new:
            shares[r.row_id] = min(1.0, truth.amounts.get(r.party, 0) / price.hourly) if price.hourly else 0.0
        rows += new
        priced.append((node, hour))
    await repo.insert_rows(conn, rows)
    await repo.mark_pending(conn, pending, priced)
    billed = [r for r in rows if r.party != IDLE]
    traces = await repo.workload_traces(conn, {r.party for r in billed})
    for r in billed:
        await uow.emit(accrual_event(r, shares[r.row_id]), trace=traces.get(r.party))
    return rows


def accrual_event(row: LedgerRow, share: float) -> CostAccrued:
    """Returns the finance event for one workload ledger row."""
    tenant = Tenant(org=row.org, team=row.team) if row.org and row.team else None
    return CostAccrued(
        workload_id=row.party, node_id=row.node, tenant=tenant, cluster=row.cluster, pool=row.pool,
        queue=row.queue or None, gpu_model=row.gpu_model or None, start=row.hour, end=row.hour + HOUR,
        amount_micros=row.amount, share=max(0.0, share), kind=row.kind.value, ledger_row_id=row.row_id,
        instance_type=row.instance_type or None, price_version_id=row.price_version_id)
