"""Cost reporting handlers: learn nodes and prices; record what each workload event said; re-book what changed.

A workload event becomes a *fact* (once per event id). The workload's allocations are recomputed from all its
facts (services/cost_reporting/usage.py), and every node-hour whose truth may have moved is re-booked
(booking.py). Placement and lifecycle arrive on different topics, in any order: the result depends only on the
set of facts, so late and duplicate events never double-count; they produce correction rows or nothing.
"""

from __future__ import annotations

from datetime import datetime

from libs.cost import NodeHour, PriceKey
from libs.cost.usage import hour_floor, hours_touched
from libs.events import Event, NodeInventoried, WorkloadPlaced
from libs.platform.unit_of_work import Router, UnitOfWork
from services.cost_reporting import repository as repo
from services.cost_reporting import timeline
from services.cost_reporting.booking import rebook
from services.cost_reporting.usage import Allocation, Fact, derive_allocations, open_end, placed_allocations

PRICING_LABEL = "batchyard.dev/pricing"
MODELS = {"on-demand": "on_demand", "spot": "spot", "on-prem-amortised": "on_prem_amortised"}


class CostHandlers:
    """The cost-reporting handlers. They keep no state in memory: facts, allocations and the ledger are rows, so
    every handler reads what it needs in its own transaction."""

    async def handle_node_inventoried(self, event: NodeInventoried, uow: UnitOfWork) -> None:
        """Upserts the node; seeds the catalog (first price from the hour first seen; a changed price opens a
        version).

        Holds the ledger lock: the closer must see either this node or none of it when it closes an hour, and
        price revisions must commit in order so the closer's ``priced_revision`` cursor skips none.
        """
        await repo.lock_ledger(uow.conn)
        known = await uow.conn.fetchval("select true from nodes where node_id = $1", event.node_id)
        await uow.conn.execute(
            "insert into nodes(node_id, cluster, pool, instance_type, gpu_model, cpu_milli, memory_mib, gpu, "
            "price_micros, first_seen, removed_at) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) "
            "on conflict (node_id) do update set cluster = excluded.cluster, pool = excluded.pool, "
            "instance_type = excluded.instance_type, gpu_model = excluded.gpu_model, cpu_milli = excluded.cpu_milli, "
            "memory_mib = excluded.memory_mib, gpu = excluded.gpu, price_micros = excluded.price_micros, "
            "first_seen = least(coalesce(nodes.first_seen, excluded.first_seen), excluded.first_seen), "
            "removed_at = excluded.removed_at",
            event.node_id, event.cluster, event.pool, event.instance_type, event.gpu_model, event.cpu_milli,
            event.memory_mib, event.gpu, event.price_per_hour_micros, event.occurred_at,
            event.occurred_at if event.removed else None)
        if not known:
            await self._book_closed_hours_later(event, uow)
        key = PriceKey(event.cluster, event.pool, event.instance_type)
        last = await uow.conn.fetchrow(
            "select hourly_micros, effective_from from price_versions where cluster = $1 and pool = $2 and "
            "instance_type = $3 and source = 'inventory' order by effective_from desc, revision desc limit 1",
            key.cluster, key.pool, key.instance_type)
        model = MODELS.get(event.labels.get(PRICING_LABEL, ""), "on_demand")
        if last is None:
            await repo.insert_price(uow.conn, key, hour_floor(event.occurred_at), event.price_per_hour_micros, model,
                                    "inventory")
        elif last["hourly_micros"] != event.price_per_hour_micros and event.occurred_at > last["effective_from"]:
            await repo.insert_price(uow.conn, key, event.occurred_at, event.price_per_hour_micros, model, "inventory")

    @staticmethod
    async def _book_closed_hours_later(event: NodeInventoried, uow: UnitOfWork) -> None:
        """Queues the hours the closer already passed for a node it had not seen, so they are booked too."""
        await uow.conn.execute(
            "insert into pending_node_hours(node_id, hour) select $1, h from clock, generate_series("
            "date_trunc('hour', $2::timestamptz), closed_through - interval '1 hour', interval '1 hour') as h "
            "where closed_through is not null on conflict do nothing", event.node_id, event.occurred_at)

    async def handle_workload_event(self, event: Event, uow: UnitOfWork) -> None:
        """A placement or a run's start or end, alone (a poll batch that failed is redone one record at a time)."""
        await self.handle_workload_events([event], [uow])

    async def handle_workload_events(self, events: list[Event], uows: list[UnitOfWork]) -> None:
        """Records what a run of placement and lifecycle events said, then re-books every node-hour they changed,
        once for the whole run.

        Each event becomes a fact (once per event id); each workload with a new fact has its allocations
        recomputed from all its facts; the node-hours of every allocation that changed are re-booked together,
        with the run's last event as the rows' source. The ledger ends as one-by-one handling would leave it,
        since a node-hour's truth depends only on the set of facts, but a node-hour that many events of the run
        touch gets one correction instead of one per event (under load, 500 ends on 48 nodes re-booked each
        node-hour ten times over, reading its whole ledger every time).

        The ledger lock comes first: the closer holds it while it updates the clock row, so taking the clock row
        before the lock could deadlock. Lifecycle events (the connector's clock) advance event time; placements
        (the scheduler's clock) do not.
        """
        conn = uows[0].conn
        await timeline.record_many(conn, events)
        facts = [fact_of(e) for e in events]
        await repo.lock_ledger(conn)
        await repo.insert_traces(conn, [(e.workload_id, u.trace_context()) for e, u in zip(events, uows)])
        if lifecycle := [f.occurred_at for f in facts if f.kind != "placed"]:
            await repo.advance_event_time(conn, max(lifecycle))
        fresh = await repo.insert_facts(conn, [(e.workload_id, f) for e, f in zip(events, facts)])
        workloads = sorted({e.workload_id for e, f in zip(events, facts) if f.event_id in fresh})
        if not workloads:
            return
        all_facts, all_old = await repo.facts_of(conn, workloads), await repo.allocations_of(conn, workloads)
        closed = (await repo.clock(conn))["closed_through"]
        removed, added, node_hours = [], [], set()
        for workload_id in workloads:
            new = derive_allocations(workload_id, all_facts.get(workload_id, []))
            old = all_old.get(workload_id, {})
            for a in sorted(a for a in set(old) | set(new) if old.get(a) != new.get(a)):
                node_hours.update(nh for alloc in (old.get(a), new.get(a)) if alloc
                                  for nh in _node_hours(alloc, closed))
                removed += [a] if a in old else []
                added += [new[a]] if a in new else []
        if not removed and not added:
            return
        await repo.replace_allocations(conn, removed, added)
        await rebook(uows[-1], node_hours, str(events[-1].event_id))

    async def handle_workload_told(self, event: Event, uow: UnitOfWork) -> None:
        """WorkloadUnschedulable, PreemptionRequested, WorkloadCancelled: no money moves, the timeline keeps them.

        WorkloadCancelled (the scheduler's copy): the accrual closes at the connector's end of the run
        (WorkloadFailed, reason cancelled), the instant its pods stopped on the connector's clock."""
        await timeline.record(uow.conn, event)

    def router(self) -> Router:
        told, one, many = self.handle_workload_told, self.handle_workload_event, self.handle_workload_events
        money = ("WorkloadPlaced", "WorkloadRunning", "WorkloadSucceeded", "WorkloadFailed", "WorkloadEvicted")
        return Router(
            handlers={"NodeInventoried": self.handle_node_inventoried, **dict.fromkeys(money, one),
                      "WorkloadUnschedulable": told, "PreemptionRequested": told, "WorkloadCancelled": told},
            batch_handlers=dict.fromkeys(money, many),  # one run, however placements and ends interleave
            # WorkloadSuspended (the scheduler's copy): the run's accrual closes at its WorkloadEvicted (reason
            # suspended), which the timeline records too.
            ignored=frozenset({"WorkloadSuspended"}))


def fact_of(event: Event) -> Fact:
    """Returns what cost keeps of a placement (its allocations and owner) or of a run's start or end."""
    if isinstance(event, WorkloadPlaced):
        tenant = event.tenant
        return Fact(str(event.event_id), "placed", event.occurred_at, tenant.org if tenant else None,
                    tenant.team if tenant else None, event.spec.queue or event.cluster_queue,
                    tuple(placed_allocations(event)))
    kind = "running" if event.type == "WorkloadRunning" else "ended"
    return Fact(str(event.event_id), kind, event.occurred_at)


def _node_hours(alloc: Allocation, closed: datetime | None) -> list[NodeHour]:
    end = open_end(alloc, closed)
    return [(alloc.node_id, h) for h in hours_touched(alloc.start, end)] if end > alloc.start else []
