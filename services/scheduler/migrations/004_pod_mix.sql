-- The pod mix the scheduler has seen (libs/placement/pod_mix.py): FGD's typical pods, learned; one row.
create table pod_mix (
    id    int primary key check (id = 1),
    state jsonb not null
);
