-- Team usage (per-team maxima count what a team holds): each admitted workload's tenant and size, whether it
-- has ended, and per team the sums over its admitted, unfinished workloads. Written in the inbox transaction
-- that admits a workload or handles the lifecycle event that ends it (services/admission/usage.py).

-- Workloads admitted before this migration keep a null tenant: their sizes were never recorded, so they
-- count against no team (and their terminal events release nothing).
alter table admitted_workloads
    add column org         text,
    add column team        text,
    add column gpu_milli   bigint not null default 0,   -- thousandths of a GPU, the whole gang at full size
    add column pods        integer not null default 0,  -- pods of the whole gang at full size
    add column finished_at timestamptz,                 -- occurred_at of the event that ended it; null: unfinished
    add column finished_by text;                        -- WorkloadSucceeded or WorkloadFailed

-- Per team: the sums over its admitted workloads whose finished_at is null. A negative sum is a bug, refused.
create table team_usage (
    org       text not null,
    team      text not null,
    gpu_milli bigint not null default 0 check (gpu_milli >= 0),
    pods      bigint not null default 0 check (pods >= 0),
    workloads integer not null default 0 check (workloads >= 0),
    primary key (org, team)
);
