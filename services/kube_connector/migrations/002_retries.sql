-- Retries (docs/adr/0016-suspend-resume-priority-retries.md): each placement says how many runs of the workload
-- failed before it, and its spec's backoff limit; a BatchJob run whose pod fails within the limit is retried
-- (phase evicted until quota reserves it again; the next attempt's pods are new, named by attempt).
alter table workloads add column failures integer not null default 0;
alter table workloads add column backoff_limit integer not null default 0;
