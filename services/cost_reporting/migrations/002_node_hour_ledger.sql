-- The finance-grade model (libs/cost): a versioned price catalog, the facts each workload's events carry,
-- the canonical allocations derived from them, and an append-only ledger per node-hour that sums to the price.

-- The spine's one-row-per-workload accruals stay readable as history; nothing writes them any more.
alter table ledger rename to ledger_v1;

alter table nodes add column instance_type text;
alter table nodes add column first_seen timestamptz;   -- occurred_at of the first NodeInventoried
alter table nodes add column removed_at timestamptz;   -- occurred_at of a NodeInventoried with removed = true

-- Append-only. The version in force at t is the one with the latest effective_from <= t; among versions of a
-- key with the same effective_from, the highest revision (the latest recorded) wins.
create table price_versions (
    revision       bigserial primary key,
    cluster        text not null,
    pool           text not null,
    instance_type  text not null,
    effective_from timestamptz not null,
    hourly_micros  bigint not null check (hourly_micros >= 0),
    model          text not null check (model in ('on_demand', 'spot', 'on_prem_amortised')),
    source         text not null,                        -- 'inventory', or 'file:<name>' from the CLI
    recorded_at    timestamptz not null default now()
);
create index price_versions_key on price_versions (cluster, pool, instance_type, effective_from);

-- What each workload event said, once per event id. Allocations are a pure function of this set.
create table workload_facts (
    event_id    uuid primary key,
    workload_id text not null,
    kind        text not null check (kind in ('placed', 'running', 'ended')),
    occurred_at timestamptz not null,
    org         text,
    team        text,
    queue       text,
    allocations jsonb                                    -- placed only: [{pod_set, node_id, cpu_milli, ...}]
);
create index workload_facts_workload on workload_facts (workload_id);

-- The canonical interval of every allocation (one pod set of one run on one node); end_at null while running.
create table allocations (
    allocation_id text primary key,
    workload_id   text not null,
    node_id       text not null,
    start_at      timestamptz not null,
    end_at        timestamptz,
    cpu_milli     bigint not null,
    memory_mib    bigint not null,
    gpu_milli     bigint not null,
    org           text,
    team          text,
    queue         text,
    source_event  uuid not null
);
create index allocations_node on allocations (node_id, start_at);
create index allocations_workload on allocations (workload_id);

-- Append-only: one row per (node-hour, party, source event); corrections are new rows, never edits.
create table ledger (
    seq           bigserial unique,
    row_id        text primary key,
    node_id       text not null,
    hour          timestamptz not null,
    party         text not null,                         -- workload id, or '(idle)'
    workload_id   text,                                  -- null for idle rows
    amount_micros bigint not null,
    kind          text not null check (kind in ('accrual', 'correction')),
    source_event  text not null,
    cluster       text not null,
    pool          text not null,
    instance_type text not null,
    gpu_model     text not null,
    org           text not null,
    team          text not null,
    queue         text not null,
    price_version text not null,
    recorded_at   timestamptz not null default now()
);
create index ledger_node_hour on ledger (node_id, hour);
create index ledger_workload on ledger (workload_id);
create index ledger_hour on ledger (hour);

-- Node-hours to book by the closer: those that could not be priced yet (node or price unknown), and the
-- already-closed hours of a node inventoried late.
create table pending_node_hours (
    node_id text not null,
    hour    timestamptz not null,
    primary key (node_id, hour)
);

-- Days whose ledger changed since their rollups were last emitted.
create table rollup_days (
    day   date primary key,
    dirty boolean not null default true
);

-- The last emitted total per (dimension, key, day); a changed total is re-emitted with revision + 1.
create table rollups (
    dimension     text not null,
    rollup_key    text not null,
    day           date not null,
    amount_micros bigint not null,
    revision      integer not null,
    primary key (dimension, rollup_key, day)
);

-- Event-time progress: the latest lifecycle occurred_at seen, and the hour boundary every node is booked up to.
create table clock (
    id                 integer primary key check (id = 1),
    event_time         timestamptz,
    closed_through     timestamptz,
    priced_revision    bigint not null default 0     -- price_versions up to here are reflected in the ledger
);
insert into clock (id) values (1);
