-- Quota's view of every workload it has seen; usage is derived from the reserved rows.
create table workloads (
    workload_id   text primary key,
    seq           bigserial not null,
    org           text not null,
    team          text not null,
    local_queue   text not null,
    cluster_queue text,
    priority      integer not null default 0,
    spec          jsonb not null,
    requests      jsonb not null,
    state         text not null check (state in ('pending', 'reserved', 'finished', 'inadmissible')),
    flavor        text,
    excluded      text[] not null default '{}',  -- flavors whose nodes cannot hold this workload's pods
    trace         jsonb not null default '{}'::jsonb,  -- W3C context of the submission, for later events
    updated_at    timestamptz not null default now()
);
create index workloads_queue_state on workloads(cluster_queue, state, seq);
