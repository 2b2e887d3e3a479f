-- The audit trail: one row per decision (who, what, accepted or rejected, which rule).
create table decisions (
    workload_id text primary key,
    event_id    uuid not null,
    org         text,
    team        text,
    queue       text,
    accepted    boolean not null,
    reason      text,
    rule        text,
    message     text,
    decided_at  timestamptz not null default now()
);
create index decisions_team on decisions(org, team, decided_at);
