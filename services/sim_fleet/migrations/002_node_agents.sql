-- What each simulated node agent is doing: reporting, silent (heartbeat loss), draining or being repaired.
create table nodes (
    node_id             text primary key,
    pool                text not null,
    state               text not null default 'up'
                        check (state in ('up', 'cordoned', 'draining', 'repairing', 'retired')),
    next_report_wall    double precision not null,  -- unix seconds of the agent's next periodic report
    silent_until_wall   double precision,           -- heartbeat loss: the agent says nothing until then
    disk_pressure_since timestamptz,                -- simulated time DiskPressure began (null: none)
    drain_deadline_wall double precision,           -- draining: evict what is left at this wall time
    drain_since_wall    double precision,           -- draining: when the drain reached this agent
    drain_reported      boolean not null default false,  -- draining: the empty node was reported
    repair_action       text,                       -- repairing: reboot / reimage / replace
    repair_done_wall    double precision,           -- repairing: when the result is reported (null: reported)
    repair_ok           boolean
);

-- Storms from the fleet spec that have struck (each strikes once).
create table storms (
    idx       integer primary key,
    struck_at timestamptz not null
);
