-- The Kubernetes connector's durable state: the clock it stamps events with, the job objects it submitted and
-- what it must do to each (bind, evict, write status), and what it has reported of each node.
create table clock (
    id         integer primary key check (id = 1),
    wall_start double precision not null,  -- unix seconds when the connector first ran
    sim_start  timestamptz not null,       -- event time at wall_start
    scale      double precision not null   -- event seconds per wall second (1 on a real cluster)
);

create table workloads (
    workload_id     text primary key,
    kind            text not null,          -- BatchJob, Job, RayJob, SparkApplication, PyTorchJob
    namespace       text not null,
    name            text not null,
    uid             text not null unique,   -- the object's uid: one workload per object, ever
    org             text,
    team            text,
    templates       jsonb not null default '{}'::jsonb,  -- pod set -> pod template as submitted (BatchJob)
    pod_count       integer not null default 0,
    phase           text not null check (phase in ('submitted', 'refused', 'invalid', 'pending', 'reserved',
                                                    'placed', 'running', 'evicting', 'evicted', 'succeeded',
                                                    'failed', 'deleted')),
    attempt         integer not null default 0,          -- placements so far; pods are named by attempt
    cluster_queue   text,
    assignments     jsonb,                               -- this attempt's pods: [{pod_set, index, node_id, gpus}]
    evict_reason    text,                                -- evicting: preempted or node-drain
    evict_message   text,
    status          jsonb not null default '{}'::jsonb,  -- the status batchyard wants on the object
    status_version  integer not null default 1,          -- bumped with every change of status
    status_written  integer not null default 0,          -- the version last written to the API server
    notices         jsonb not null default '[]'::jsonb,  -- Kubernetes Events still to write
    trace           jsonb not null default '{}'::jsonb,  -- W3C context of the workload's trace
    updated_at      timestamptz not null default now()
);
create index workloads_active on workloads(phase) where phase in ('placed', 'running', 'evicting');
create index workloads_unwritten on workloads(workload_id) where status_written < status_version;

create table nodes (
    name               text primary key,
    inventory_digest   text,                -- what was last published as NodeInventoried
    health_digest      text,                -- the conditions and fault annotations last reported
    reported_wall      double precision,    -- unix seconds of the last health report
    repair_state       text,                -- node repair's last word: cordoned, draining, repairing, healthy, retired
    drain_deadline_wall double precision,   -- draining: evict what is left at this wall time
    drain_since_wall   double precision,
    drain_reported     boolean not null default false,
    repair_action      text,                -- repairing: reboot, reimage or replace
    repair_id          text,                -- the transition that asked for the repair (annotation value)
    repair_done_wall   double precision     -- simulated repairs: when the result is reported
);
