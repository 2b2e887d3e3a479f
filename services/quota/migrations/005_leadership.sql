-- One active quota instance, warm standbys (libs/platform/leader.py): the leadership log, one row per takeover.
create table leadership (
    term        bigserial primary key,   -- the highest term is the active instance
    instance    text not null,
    backend_pid integer not null,        -- the Postgres session holding the leader lock
    acquired_at timestamptz not null default now()
);
