-- Clusters node repair judged unreachable (ClusterReachabilityChanged): their nodes take no new pods.
create table unreachable_clusters (
    cluster text primary key,
    since   timestamptz not null,
    message text not null default ''
);
