-- Row-level security on the read model(s) tenants may query (issue 18; docs/security.md, "Read paths").
-- The service's own role owns these tables and is not subject to it; anyone else sees a row only if they
-- may use (hold, or SET ROLE to) a scope role naming the row's tenant: batchyard_team__<org>__<team>,
-- batchyard_org__<org>, or batchyard_read_all. Which tables a role may query at all is granted by
-- `batchyard db roles`; this only picks the rows. Without any scope role a non-owner sees nothing.
create function row_visible(row_org text, row_team text) returns boolean
language sql stable as $$
    select pg_has_role(current_user, (select nspowner from pg_namespace where nspname = 'cost_reporting'), 'USAGE')
        or exists (select 1 from pg_roles r
                   where r.rolname in ('batchyard_read_all', 'batchyard_org__' || row_org,
                                       'batchyard_team__' || row_org || '__' || row_team)
                     and pg_has_role(current_user, r.oid, 'USAGE'))
$$;
alter table ledger enable row level security;
create policy tenant_rows on ledger for select using (row_visible(org, team));
