-- Cancelled workloads (docs/adr/0014-workload-cancel.md): quota never reserves for one of these again, and passes
-- each cancellation on (quota topic) exactly once: the row is inserted in the transaction that releases and passes
-- it on, so the scheduler's copy coming back on the placement topic, or a redelivery, finds it and does nothing.
create table cancelled_workloads (
    workload_id  text primary key,
    cancelled_at timestamptz not null,          -- admission's decision time (WorkloadCancelled.cancelled_at)
    had          text                           -- what quota held of it then: reserved, pending, or null (nothing)
);
