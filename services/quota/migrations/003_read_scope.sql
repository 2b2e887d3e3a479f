-- Row-level security on the read model(s) tenants may query (issue 18; docs/security.md, "Read paths").
-- The service's own role owns these tables and is not subject to it; anyone else sees a row only if they
-- may use (hold, or SET ROLE to) a scope role naming the row's tenant: batchyard_team__<org>__<team>,
-- batchyard_org__<org>, or batchyard_read_all. Which tables a role may query at all is granted by
-- `batchyard db roles`; this only picks the rows. Without any scope role a non-owner sees nothing.
create function row_visible(row_org text, row_team text) returns boolean
language sql stable as $$
    select pg_has_role(current_user, (select nspowner from pg_namespace where nspname = 'quota'), 'USAGE')
        or exists (select 1 from pg_roles r
                   where r.rolname in ('batchyard_read_all', 'batchyard_org__' || row_org,
                                       'batchyard_team__' || row_org || '__' || row_team)
                     and pg_has_role(current_user, r.oid, 'USAGE'))
$$;
alter table workloads enable row level security;
create policy tenant_rows on workloads for select using (row_visible(org, team));

-- Queue positions count every team's pending workloads, but show only the caller's: the view reads the table
-- as its owner (the quota role, so all rows), numbers them, then keeps the rows the caller may see.
create view pending_positions with (security_barrier) as
select p.* from (
    select w.*, row_number() over (partition by w.cluster_queue
                                   order by w.priority desc, w.created_at, w.workload_id) as pos
    from workloads w where w.state = 'pending'
) p
where row_visible(p.org, p.team);
