-- Suspend and resume (docs/adr/0016-suspend-resume-priority-retries.md). A suspended workload holds no quota and
-- waits in no queue: its workloads row says 'suspended' and the engine does not hold it (a rebuild skips it).
alter table workloads drop constraint if exists workloads_state_check;
alter table workloads add constraint workloads_state_check
    check (state in ('pending', 'reserved', 'finished', 'inadmissible', 'suspended'));

-- One row per workload while it is suspended, or resumed and waiting for its suspended run to stop; deleted when
-- it is queued again. Written in the transaction that handles the suspension, so a redelivery or the scheduler's
-- copy (placement topic) finds it.
create table suspended_workloads (
    workload_id  text primary key,
    suspended_at timestamptz not null,  -- admission's decision time (WorkloadSuspended.suspended_at): names it
    had          text,                  -- what quota held of it then: reserved, pending, finished or null
    stopped      boolean not null,      -- nothing of it runs: it held no reservation, the scheduler said it held
                                        -- no nodes, or the run's end (WorkloadEvicted...) arrived
    placed       boolean not null,      -- quota saw a WorkloadPlaced of the suspended run: only its end stops it
    resumed_at   timestamptz            -- resumed while its run was still stopping: queued once stopped
);
