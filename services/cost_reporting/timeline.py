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
    WorkloadCancelled,
    WorkloadEvicted,
    WorkloadFailed,
    WorkloadPlaced,
    WorkloadUnschedulable,
)


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


TIMELINE_INSERT = (
    "insert into workload_events(event_id, workload_id, type, producer, occurred_at, org, team, cluster, reason, "
    "message, detail) select $1, $2, $3, $11, $4, coalesce($5, e.org), coalesce($6, e.team), $7, $8, $9, "
    "$10::jsonb "
    "from (select null) x left join lateral (select org, team from workload_events where workload_id = $2 "
    "and org is not null limit 1) e on true on conflict do nothing")


def _values(event: Event) -> tuple:
    row, tenant = timeline_row(event), event.tenant
    return (event.event_id, event.workload_id, event.type, event.occurred_at, tenant.org if tenant else None,
            tenant.team if tenant else None, row.cluster, row.reason, row.message, json.dumps(row.detail),
            event.producer)


async def record(conn: asyncpg.Connection, event: Event) -> None:
    """Adds ``event`` to its workload's timeline (a redelivery adds nothing). An event without a tenant takes the
    workload's earlier one, so row-level security still shows it to its team."""
    await record_many(conn, [event])


async def record_many(conn: asyncpg.Connection, events: list[Event]) -> None:
    """``record`` for each event, in order, in one round trip: each insert sees the rows of those before it, so an
    event without a tenant still finds its workload's earlier one in the same list."""
    await conn.executemany(TIMELINE_INSERT, [_values(e) for e in events if e.workload_id is not None])
