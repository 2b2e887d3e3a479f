-- The placement core's state: exact GPUs per pod, priorities and start times (for preemption), node-repair
-- states, and the leadership log of the active/standby pair.
alter table placements alter column pods drop not null;        -- first-fit rows only (no exact GPUs)
alter table placements add column bound jsonb;                  -- [[pod_id, node_id, cpu_milli, memory_mib, [[gpu, milli], ...]], ...]
alter table placements add column priority integer not null default 0;
alter table placements add column started_at double precision;  -- scheduler clock (epoch seconds) when placed
alter table placements add column tenant jsonb;                 -- the owner, stamped on PreemptionRequested
alter table placements add column trace jsonb;                  -- its W3C context: a preemption joins the victim's trace

alter table pending add column priority integer not null default 0;
alter table pending add column victims text[] not null default '{}';  -- gangs asked to leave for this one

create table node_states (
    node_id      text primary key,
    repair_state text not null      -- the latest NodeRepairTransitioned.to_state
);
insert into node_states(node_id, repair_state) select node_id, 'cordoned' from nodes where cordoned;

create table leadership (
    term        bigserial primary key,   -- one row per takeover; the highest term is the active instance
    instance    text not null,
    backend_pid integer not null,        -- the Postgres session holding the leader lock
    acquired_at timestamptz not null default now()
);
