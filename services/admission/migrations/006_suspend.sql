-- Suspend and resume (docs/adr/0016-suspend-resume-priority-retries.md): an admitted workload is suspended from
-- its WorkloadSuspended until its WorkloadResumed (null: not suspended). It stays admitted and unfinished, so its
-- team usage is kept. The audit log records suspend and resume decisions beside submissions and cancels.
alter table admitted_workloads add column suspended_at timestamptz;
alter table audit_log drop constraint if exists audit_log_action_check;
alter table audit_log add constraint audit_log_action_check
    check (action in ('submit', 'cancel', 'suspend', 'resume', 'priority'));
