-- Retries: a pod failure is numbered among the workload's failed runs and is final, or retried under the
-- spec's backoff_limit (decided at placement, from WorkloadPlaced.failures).
alter table pods add column attempt integer not null default 1;
alter table pods add column final boolean not null default true;
