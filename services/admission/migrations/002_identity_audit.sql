-- Identity and audit (issue 7): the replay cache, the admitted-workload index and the full audit log.

-- Token ids spent on accepted submissions (libs.admission ReplayCache), written in the inbox transaction.
create table token_claims (
    jti        text primary key,          -- org/team/jti: namespaced by tenant
    binding    text not null,             -- sha256 of the canonical submission the token admitted
    expires_at bigint not null,           -- Unix seconds (token exp + leeway); purgeable after
    claimed_at timestamptz not null default now()
);
create index token_claims_expiry on token_claims(expires_at);

-- One row per admitted workload id: a second submission of the same id is refused.
create table admitted_workloads (
    workload_id text primary key,
    event_id    uuid not null,
    admitted_at timestamptz not null default now()
);
insert into admitted_workloads(workload_id, event_id, admitted_at)
    select workload_id, event_id, decided_at from decisions where accepted;

-- Every decision: who (verified subject, key), what (workload, tenant, queue), accepted or rejected, which rule.
create table audit_log (
    seq               bigserial primary key,
    event_id          uuid not null,          -- the WorkloadSubmitted event decided
    decided_at        timestamptz not null,
    outcome           text not null check (outcome in ('accepted', 'rejected')),
    workload_id       text,
    org               text,                   -- tenant the submission claims
    team              text,
    subject           text,                   -- verified caller (token sub); null when the token was refused
    caller_tenant     text,                   -- org/team the token vouches for
    key_id            text,
    token_id          text,
    queue             text,
    priority_class    text,
    reason            text,                   -- machine-readable reason code; null when accepted
    rule              text,                   -- the policy rule that fired first
    message           text not null,
    violations        text[] not null default '{}',
    defaulted         text[] not null default '{}',
    submission_digest text,
    producer          text
);
create index audit_log_team on audit_log(org, team, decided_at);
create index audit_log_rejected on audit_log(decided_at) where outcome = 'rejected';
insert into audit_log(event_id, decided_at, outcome, workload_id, org, team, queue, reason, rule, message)
    select event_id, decided_at, case when accepted then 'accepted' else 'rejected' end, workload_id, org, team,
           queue, reason, rule, coalesce(message, '') from decisions;
