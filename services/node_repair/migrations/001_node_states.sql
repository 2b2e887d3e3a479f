-- Each node's repair state; every change is also an event on the repair topic.
create table node_states (
    node_id  text primary key,
    state    text not null,
    since    double precision not null,  -- unix seconds of the last transition
    reason   text,
    evidence jsonb not null default '{}'::jsonb
);
