-- The W3C trace context of each workload, so accruals booked later (by the hour closer, or while handling
-- another workload's event) are emitted in the workload's own trace.
create table workload_traces (
    workload_id text primary key,
    trace       jsonb not null
);
