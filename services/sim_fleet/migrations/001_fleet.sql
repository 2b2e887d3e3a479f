-- The simulated fleet's durable state: its clock, what inventory it has published, and the pods it runs.
create table clock (
    id         integer primary key check (id = 1),
    wall_start double precision not null,  -- unix seconds when the simulation began
    sim_start  timestamptz not null,       -- simulated time at wall_start
    scale      double precision not null   -- simulated seconds per wall second
);

create table inventory (
    node_id text primary key,
    digest  text not null
);

create table pods (
    workload_id text primary key,
    cluster     text not null,
    org         text,
    team        text,
    nodes       text[] not null,
    ends_wall   double precision not null,  -- unix seconds when the workload finishes
    outcome     text not null check (outcome in ('succeeded', 'failed')),
    trace       jsonb not null default '{}'::jsonb  -- W3C context of the workload's trace
);
create index pods_due on pods(ends_wall);
