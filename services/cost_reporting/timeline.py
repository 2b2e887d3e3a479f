"""Each workload's timeline, kept for `batchyard workloads describe` (migration 005, docs/workloads.md).

Cost reporting already consumes the placement and lifecycle topics; it writes down every workload event on them,
once per event id, with the reason and the few facts a person asks about (nodes, the cluster's reason, the
preemptor, who cancelled). Pure ``event -> row`` first, then one insert in the handler's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import asyncpg

from libs.events import (
    Event,
    PreemptionRequested,
    Tenant,
    WorkloadCancelled,
    WorkloadEvicted,
    WorkloadFailed,
    WorkloadPlaced,
    WorkloadUnschedulable,
)
from libs.platform.store import columns


@dataclass(frozen=True)
class TimelineRow:
    """One line of a workload's timeline: what happened, why (reason code and words) and its details."""

    cluster: str | None = None
    reason: str | None = None
    message: str | None = None
    detail: dict = field(default_factory=dict)


def timeline_row(event: Event) -> TimelineRow:
    """Returns what the timeline keeps of ``event`` (any workload event of the placement or lifecycle topic)."""
    cluster = getattr(event, "cluster", None)
    if isinstance(event, WorkloadPlaced):
        nodes = sorted({a.node_id for a in event.assignments})
        return TimelineRow(cluster, message=event.cluster_reason, detail={
            "nodes": nodes, "pods": len(event.assignments), "cluster_queue": event.cluster_queue})
    if isinstance(event, WorkloadFailed):  # which failed run, and whether its backoff limit retries it
        return TimelineRow(cluster, event.reason, event.message or None, {"attempt": event.attempt,
                                                                          "retried": not event.final})
    if isinstance(event, (WorkloadUnschedulable, WorkloadEvicted)):
        return TimelineRow(cluster, event.reason, event.message or None)
    if isinstance(event, PreemptionRequested):
        return TimelineRow(None, event.reason, event.message, {
            "preemptor": event.preemptor, "nodes": list(event.nodes)})
    if isinstance(event, WorkloadCancelled):
        return TimelineRow(None, "cancelled", event.reason or None, {
            "cancelled_by": event.cancelled_by, "placed": event.placed})
    return TimelineRow(cluster)


TIMELINE_INSERT = (  # the stored tenant is looked up only for an event without one (COALESCE stops at the first)
    "insert into workload_events(event_id, workload_id, type, producer, occurred_at, org, team, cluster, reason, "
    "message, detail) select u.event_id, u.workload_id, u.type, u.producer, u.occurred_at, "
    "coalesce(u.org, (select w.org from workload_events w where w.workload_id = u.workload_id "
    "and w.org is not null limit 1)), "
    "coalesce(u.team, (select w.team from workload_events w where w.workload_id = u.workload_id "
    "and w.org is not null limit 1)), u.cluster, u.reason, u.message, u.detail::jsonb "
    "from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::text[], $10::text[], $11::text[]) with ordinality as u(event_id, workload_id, type, "
    "occurred_at, org, team, cluster, reason, message, detail, producer, n) order by u.n on conflict do nothing")


def _values(event: Event, tenant: Tenant | None) -> tuple:
    row = timeline_row(event)
    return (event.event_id, event.workload_id, event.type, event.occurred_at, tenant.org if tenant else None,
            tenant.team if tenant else None, row.cluster, row.reason, row.message, json.dumps(row.detail),
            event.producer)


async def record(conn: asyncpg.Connection, event: Event) -> None:
    """Adds ``event`` to its workload's timeline (a redelivery adds nothing). An event without a tenant takes the
    workload's earlier one, so row-level security still shows it to its team."""
    await record_many(conn, [event])


async def record_many(conn: asyncpg.Connection, events: list[Event]) -> None:
    """``record`` for each event, in order, in one statement. The statement does not see its own rows, so an event
    without a tenant first takes the tenant of an earlier event of its workload in ``events``; failing that, the
    stored one."""
    rows, tenants = [], {}
    for event in events:
        if event.workload_id is None:
            continue
        tenant = event.tenant or tenants.get(event.workload_id)
        if event.tenant is not None:
            tenants.setdefault(event.workload_id, event.tenant)
        rows.append(_values(event, tenant))
    if rows:
        await conn.execute(TIMELINE_INSERT, *columns(rows))
