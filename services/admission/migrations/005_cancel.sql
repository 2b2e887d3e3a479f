-- Workload cancel (docs/adr/0014-workload-cancel.md): cancel requests are decided and audited like submissions.
-- A cancelled workload's admitted_workloads row is finished with finished_by = 'WorkloadCancelled' (no new column);
-- the audit log says which kind of request each row decided.
alter table audit_log add column action text not null default 'submit' check (action in ('submit', 'cancel'));
