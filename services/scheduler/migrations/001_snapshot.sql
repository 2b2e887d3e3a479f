-- What the scheduler must rebuild its in-memory snapshot from after a restart.
create table nodes (
    node_id  text primary key,
    spec     jsonb not null,      -- the latest NodeInventoried event
    cordoned boolean not null default false
);

create table placements (
    workload_id text primary key,
    cluster     text not null,
    pods        jsonb not null,   -- [[node_id, cpu_milli, memory_mib, gpu_milli], ...]
    placed_at   timestamptz not null default now()
);

create table pending (
    workload_id text primary key,
    seq         bigserial not null,
    reservation jsonb not null,   -- the QuotaReserved event
    last_reason text,
    trace       jsonb not null default '{}'::jsonb  -- W3C context of the workload's trace
);
