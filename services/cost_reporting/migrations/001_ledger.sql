-- Node prices, each workload's placement and lifetime, and the append-only cost ledger.
create table nodes (
    node_id     text primary key,
    cluster     text not null,
    pool        text not null,
    gpu_model   text,
    cpu_milli   bigint not null,
    memory_mib  bigint not null,
    gpu         integer not null,
    price_micros bigint not null
);

create table workloads (
    workload_id text primary key,
    org         text,
    team        text,
    queue       text,
    cluster     text,
    shares      jsonb,          -- {node_id: share of that node}; null until WorkloadPlaced is seen
    started_at  timestamptz,    -- from WorkloadRunning
    ended_at    timestamptz,    -- from WorkloadSucceeded / Failed / Evicted
    accrued     boolean not null default false
);

-- Append-only: corrections are new rows. One accrual per workload, node and interval start.
create table ledger (
    id            bigserial primary key,
    workload_id   text not null,
    node_id       text not null,
    org           text,
    team          text,
    queue         text,
    cluster       text not null,
    pool          text not null,
    gpu_model     text,
    interval_start timestamptz not null,
    interval_end  timestamptz not null,
    share         double precision not null,
    amount_micros bigint not null,
    kind          text not null default 'accrual',
    source_event  uuid not null,
    unique (workload_id, node_id, interval_start, kind)
);
