-- Cluster reachability (libs/repair/clusters.py): each node's cluster, and what was heard of each cluster.
alter table repair_nodes add column cluster text not null default '';
create index repair_nodes_cluster on repair_nodes(cluster);

create table repair_clusters (
    cluster    text primary key,
    reach      jsonb not null,            -- ClusterReach: first_heard, last_reachable, last_failure, message, unreachable_since
    updated_at timestamptz not null default now()
);
