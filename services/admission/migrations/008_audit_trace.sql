-- The W3C trace id of the span that decided each request (issue 15): a refused submission has no quota row to
-- carry its trace, so `workloads describe` finds it here.
alter table audit_log add column trace_id text;
