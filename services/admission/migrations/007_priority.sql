-- Priority change (docs/adr/0016-suspend-resume-priority-retries.md): an admitted workload's priority class now,
-- once changed (null: the class it was admitted with, in its accepted submission's audit row). The audit log
-- records priority decisions with action 'priority' (allowed since 006).
alter table admitted_workloads add column priority_class text;
