-- Retries (docs/adr/0016-suspend-resume-priority-retries.md): the runs of a workload that failed and were retried
-- under its backoff_limit; its next QuotaReserved carries the count, so the runner numbers the next failure.
alter table workloads add column failures integer not null default 0;
