-- Every service schema gets an inbox (processed event ids, for effectively-once handling) and an outbox
-- (events written in the same transaction as the state change, relayed to Kafka afterwards).
create table processed_events (
    event_id     uuid primary key,
    event_type   text not null,
    processed_at timestamptz not null default now()
);

create table outbox (
    seq        bigserial primary key,
    topic      text not null,
    key        bytea,
    value      bytea not null,
    headers    jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);

create table dead_letters (
    event_id     uuid primary key,
    source_topic text not null,
    reason       text not null,
    error        text not null,
    created_at   timestamptz not null default now()
);
