-- Each workload's timeline as the placement and lifecycle topics told it (issue 15, docs/workloads.md): every
-- placement (cluster, nodes, the scheduler's cluster_reason), every "unschedulable" with its reason, every
-- preemption request, eviction, cancellation and end, once per event id. Nothing else keeps each eviction with its
-- reason; `batchyard workloads describe` reads it. Tenants read their own rows, as the ledger's (004).
create table workload_events (
    event_id    uuid primary key,
    seq         bigserial not null,
    workload_id text not null,
    type        text not null,                  -- the event's type, e.g. WorkloadEvicted
    producer    text not null,                  -- who said it: scheduler, sim-fleet, kube-connector-<cluster>
    occurred_at timestamptz not null,           -- the emitter's clock (the fleet's for lifecycle events)
    org         text,                           -- the event's tenant, else the workload's earlier one
    team        text,
    cluster     text,
    reason      text,                           -- machine-readable reason code, when the event has one
    message     text,                           -- for people
    detail      jsonb not null default '{}'     -- per type: nodes, cluster_reason, preemptor, cancelled_by, ...
);
create index workload_events_workload on workload_events (workload_id, occurred_at, seq);
alter table workload_events enable row level security;
create policy tenant_rows on workload_events for select using (row_visible(org, team));
