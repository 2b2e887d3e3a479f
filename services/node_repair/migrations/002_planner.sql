-- The libs/repair planner's durable state (replaces the spine's node_states, which is left unused).
create table repair_nodes (
    node_id   text primary key,
    pool      text not null,
    domain    text not null,              -- topology failure domain (the rack)
    state     text not null default 'healthy',
    record    jsonb,                      -- NodeRecord: state, since, action, wanted_since, drain_deadline, history
    health    jsonb,                      -- folded NodeHealth
    occupancy jsonb,                      -- newest OccupancyObserved
    result    jsonb,                      -- unconsumed RepairFinished
    diagnosis text not null default '',   -- the latest diagnosis, one line (for `batchyard nodes why`)
    deferred  text not null default '',   -- why a wanted repair waits, with the numbers ('' if it does not)
    updated_at timestamptz not null default now()
);
create index repair_nodes_state on repair_nodes(state);

-- Health reports not yet folded by the planning cycle (the handler only appends; the cycle folds and deletes).
create table repair_signals (
    seq     bigserial primary key,
    node_id text not null,
    body    jsonb not null                -- the NodeHealthReported event
);

-- Cordons inside the rate window (the rate limiter's memory).
create table repair_starts (
    node_id text not null,
    pool    text not null,
    at      timestamptz not null
);

-- The repair clock: the newest health-report time seen (event time), so a simulated fleet's
-- scaled clock drives the timers. The planner's now is max(watermark, wall clock).
-- planned_at is the now of the last planning cycle: a jump far beyond it means nobody was listening
-- (connector or node repair down), and every node is given a fresh heartbeat timeout.
create table repair_clock (
    id         integer primary key check (id = 1),
    watermark  timestamptz not null,
    planned_at timestamptz
);

-- Ops overrides, written by `batchyard nodes ...` and read by every planning cycle.
create table repair_paused (
    scope     text primary key,           -- '*' for everywhere, else a pool name
    by_whom   text not null default '',
    at        timestamptz not null default now()
);
create table repair_forced (
    node_id      text primary key,
    requested_at timestamptz not null     -- on the repair clock; one-shot (a repair after it ends the force)
);
create table repair_excluded (
    node_id text primary key,
    at      timestamptz not null default now()
);

-- Every transition the planner made, for `batchyard nodes why` (the topic has them all too).
create table repair_transitions (
    seq        bigserial primary key,
    node_id    text not null,
    from_state text not null,
    to_state   text not null,
    reason     text not null,
    action     text not null,
    at         timestamptz not null,
    evidence   jsonb not null default '[]'::jsonb
);
create index repair_transitions_node on repair_transitions(node_id, seq);
