-- Quota on the Kueue-semantics core (libs/quota): each workload's engine state, the versioned config,
-- and the latest "why it waits" per pending workload (read by `batchyard queues`).
alter table workloads add column created_at double precision not null default 0;  -- queue order (epoch s)
alter table workloads add column admission jsonb;  -- the core's Admission while reserved
alter table workloads add column reserved_at double precision;  -- epoch s; waitForPodsReady clock
alter table workloads add column placed boolean not null default false;  -- scheduler placed every pod
alter table workloads add column requeue_at double precision not null default 0;  -- backoff ends (epoch s)
alter table workloads add column attempts integer not null default 0;  -- evictions so far (backoff)
alter table workloads add column pending_reason text;  -- latest reason code while pending
alter table workloads add column pending_message text;  -- latest sentence while pending
alter table workloads add column position integer;  -- position in its cluster queue when last looked at
create index workloads_state on workloads(state);

-- Every applied quota config (Kueue-shaped YAML); the highest version is in force.
create table quota_configs (
    version    bigserial primary key,
    yaml       text not null,
    source     text not null default '',  -- file name or "startup"
    applied_at timestamptz not null default now()
);
