"""Adapters from the replay's inputs to the two cores' own records (no core logic copied).

- fleet YAML (libs.fleet) or a trace's node rows → ``libs.placement.NodeSpec``;
- teams and a policy name → a ``libs.quota.QuotaConfig`` (or a Kueue YAML file via the loader);
- a ``TraceJob`` → the quota core's ``Workload`` and, once admitted, the placement core's.
"""

from __future__ import annotations

from dataclasses import replace

from libs.fleet import load_fleet
from libs.placement import NodeSpec, PlacementPolicy, Strategy, typical_pods
from libs.placement import PodSet as PPodSet, Topology as PTopology, Workload as PWorkload
from libs.placement.inventory import node_spec_of
from libs.placement.policy_file import load_policy
from libs.quota import (ClusterQueueSpec, CohortSpec, FlavorQuotas, LocalQueue, Preemption, PreemptionPolicy,
                        QuotaConfig, ResourceFlavor, ResourceGroup, ResourceQuota, Timing)
from libs.quota import PodSet as QPodSet, Workload as QWorkload
from libs.quota.loader import load_config

from .config import ReplayConfig, resolve_repo_path
from .readers import Trace
from .trace import TraceJob

GPU_MILLI_RESOURCE = "batchyard.dev/gpu-milli"  # quota in thousandths of a GPU: exact for shared GPUs
FLEET_FLAVOR = "fleet"  # the one flavor of a generated quota config: every node of the fleet
QUEUE = "default"  # each team's local queue


def fleet_nodes(config: ReplayConfig, trace: Trace) -> list[NodeSpec]:
    """Return the nodes to replay on: the config's fleet YAML, else the nodes the trace brings; ``fleet_scale``
    of them if set."""
    if config.fleet:
        nodes = [node_spec_of(e) for e in load_fleet(resolve_repo_path(config.fleet)).node_events()]
    elif trace.fleet_nodes:
        nodes = [NodeSpec(n["name"], n["cpu_milli"], n["memory_mib"], n["gpus"], n["model"] if n["gpus"] else "",
                          cluster="trace", pool=(n["model"] or "cpu").lower(), topology=PTopology(host=n["name"]))
                 for n in trace.fleet_nodes]
    else:
        raise ValueError(f"replay {config.name}: no fleet (set 'fleet:' to a fleet YAML)")
    return nodes if config.fleet_scale is None else scaled_fleet(nodes, config.fleet_scale)


def scaled_fleet(nodes: list[NodeSpec], scale: float) -> list[NodeSpec]:
    """Return ``round(len(nodes) * scale)`` of ``nodes`` (at least one), each shape (pool, model, GPUs, CPU,
    memory) kept in proportion by largest remainder (ties to the more common shape, then the first seen); of a
    shape, the first nodes in the given order are kept, in that order."""
    shapes: dict[tuple, list[NodeSpec]] = {}
    for node in nodes:
        shapes.setdefault((node.pool, node.gpu_model, node.gpu_count, node.cpu_milli, node.memory_mib), []).append(node)
    target = max(1, round(len(nodes) * scale))
    quotas = {shape: len(members) * target / len(nodes) for shape, members in shapes.items()}
    kept = {shape: int(q) for shape, q in quotas.items()}
    order = list(shapes)  # first seen first
    by_remainder = sorted(order, key=lambda sh: (-(quotas[sh] - kept[sh]), -len(shapes[sh]), order.index(sh)))
    for shape in by_remainder[: target - sum(kept.values())]:
        kept[shape] += 1
    keep = {id(n) for shape in order for n in shapes[shape][: kept[shape]]}
    return [n for n in nodes if id(n) in keep]


def team_quotas(config: ReplayConfig, trace: Trace, nodes: list[NodeSpec] | None = None) -> dict[str, int]:
    """Return each team's nominal GPUs: the trace's, overridden by ``team_gpus``, optionally fitted to the fleet.

    With ``quota_to_fleet`` the quotas keep their proportions and sum to the fleet's GPUs
    (at least one GPU each), so a smaller fleet keeps the trace's entitlements.
    """
    teams = {**trace.team_gpus, **config.team_gpus}
    if not (config.quota_to_fleet and nodes):
        return teams
    fleet, total = sum(n.gpu_count for n in nodes), sum(teams.values()) or 1
    return {t: max(1, round(g * fleet / total)) for t, g in teams.items()}


def build_quota_config(config: ReplayConfig, trace: Trace, nodes: list[NodeSpec]) -> QuotaConfig:
    """Return the quota configuration of the replay's policy (or the config's Kueue YAML), scaled."""
    if config.quota_file:
        quota = load_config(resolve_repo_path(config.quota_file).read_text())
    else:
        quota = _generated(config, team_quotas(config, trace, nodes), nodes)
    return scale_quota(quota, config.quota_scale)


def _generated(config: ReplayConfig, teams: dict[str, int], nodes: list[NodeSpec]) -> QuotaConfig:
    fleet_gpus = max(sum(n.gpu_count for n in nodes), 1)
    fleet_cpu = sum(n.cpu_milli for n in nodes)

    def group(gpus: int) -> tuple[ResourceGroup, ...]:
        cpu = fleet_cpu * gpus // fleet_gpus if gpus else fleet_cpu // max(len(teams), 1)
        quotas = {"cpu": ResourceQuota(cpu), GPU_MILLI_RESOURCE: ResourceQuota(gpus * 1000)}
        return (ResourceGroup(("cpu", GPU_MILLI_RESOURCE), (FlavorQuotas(FLEET_FLAVOR, quotas),)),)

    timing = Timing(config.backoff_base_s, config.backoff_max_s, None, config.min_runtime_s)
    flavors = [ResourceFlavor(FLEET_FLAVOR, _fleet_labels(nodes))]
    never = Preemption()
    if config.policy in ("fifo", "priority"):
        within = PreemptionPolicy.LOWER_PRIORITY if config.policy == "priority" and config.preemption else None
        cq = ClusterQueueSpec("fleet", None, group(fleet_gpus), config.queueing,  # one queue: the whole fleet
                              Preemption(within) if within else never)
        lqs = [LocalQueue(t, QUEUE, "fleet") for t in teams]
        return QuotaConfig.build(flavors=flavors, cluster_queues=[cq], local_queues=lqs, timing=timing)
    cohort = None if config.policy == "static" else "org"
    reclaim = PreemptionPolicy.ANY if config.preemption and cohort else PreemptionPolicy.NEVER
    cqs = [ClusterQueueSpec(t, cohort, group(g), config.queueing, Preemption(PreemptionPolicy.NEVER, reclaim))
           for t, g in sorted(teams.items())]
    lqs = [LocalQueue(t, QUEUE, t) for t in teams]
    cohorts = [CohortSpec("org")] if cohort else []
    return QuotaConfig.build(flavors=flavors, cohorts=cohorts, cluster_queues=cqs, local_queues=lqs, timing=timing,
                             fair_sharing=config.policy == "fair-share")


def _fleet_labels(nodes: list[NodeSpec]) -> dict[str, str]:
    """Return the flavor's node labels: its cluster and pool when the fleet is one pool (so per-pool
    placement strategies apply), else none (the flavor spans every node)."""
    where = {(n.cluster, n.pool) for n in nodes}
    if len(where) != 1:
        return {}
    cluster, pool = where.pop()
    return {"batchyard.dev/cluster": cluster, "batchyard.dev/pool": pool}


def scale_quota(quota: QuotaConfig, scale: dict[str, float]) -> QuotaConfig:
    """Return ``quota`` with the nominal quota of each ``team`` (or ``team:flavor``) multiplied."""
    if not scale:
        return quota
    unknown = [k for k in scale if k.split(":")[0] not in quota.cluster_queues]
    if unknown:
        raise ValueError(f"quota_scale names unknown cluster queues: {unknown} (have {sorted(quota.cluster_queues)})")
    queues = dict(quota.cluster_queues)
    for key, factor in scale.items():
        name, _, flavor = key.partition(":")
        spec = queues[name]
        groups = tuple(replace(g, flavors=tuple(
            replace(fq, resources={r: replace(q, nominal=int(q.nominal * factor)) for r, q in fq.resources.items()})
            if not flavor or fq.flavor == flavor else fq for fq in g.flavors)) for g in spec.resource_groups)
        queues[name] = replace(spec, resource_groups=groups)
    return replace(quota, cluster_queues=queues)


def priority_of(config: ReplayConfig, quota: QuotaConfig, job: TraceJob) -> int:
    """Return the job's priority: its priority class, else its team's, else the default (FIFO: 0)."""
    if config.policy == "fifo":
        return 0
    if job.priority_class and job.priority_class in quota.priority_classes:
        return quota.priority_classes[job.priority_class]
    return config.team_priority.get(job.team, config.default_priority)


def quota_workload(job: TraceJob, priority: int, kueue_units: bool) -> QWorkload:
    """Return the quota core's workload: per-pod cpu and GPU requests (Kueue units for a YAML config)."""
    pod_sets = []
    for ps in job.pod_sets:
        if kueue_units:
            req = {"cpu": ps.cpu_milli, "memory": ps.memory_mib * 2**20, "nvidia.com/gpu": ps.gpus}
        else:
            req = {"cpu": ps.cpu_milli, GPU_MILLI_RESOURCE: ps.gpus * ps.gpu_milli}
        pod_sets.append(QPodSet(ps.name, ps.count, {k: v for k, v in req.items() if v}))
    return QWorkload(job.id, job.team, QUEUE, tuple(pod_sets), priority, job.arrival)


def placement_workload(job: TraceJob, priority: int, node_labels: dict) -> PWorkload:
    """Return the placement core's gang for an admitted job, limited to its flavors' clusters/pools."""
    clusters = tuple(sorted({lb["batchyard.dev/cluster"] for lb in node_labels.values()
                             if "batchyard.dev/cluster" in lb}))
    pools = tuple(sorted({lb["batchyard.dev/pool"] for lb in node_labels.values() if "batchyard.dev/pool" in lb}))
    pod_sets = tuple(PPodSet(ps.name, ps.count, ps.cpu_milli, ps.memory_mib, ps.gpus, ps.gpu_milli, ps.gpu_models)
                     for ps in job.pod_sets)
    return PWorkload(job.id, pod_sets, priority, clusters, pools)


def placement_policy(config: ReplayConfig, trace: Trace) -> PlacementPolicy:
    """Return the placement policy the config describes (``PlacementSettings``): the scheduler's policy file with
    the config's strategies over it, or the config's strategies with FGD's typical pods taken from the trace."""
    settings = config.placement
    given = settings.model_fields_set
    if settings.policy_file:
        path = resolve_repo_path(settings.policy_file)
        if not path.is_file():
            raise ValueError(f"replay {config.name}: placement.policy_file {settings.policy_file}: no such file")
        policy = load_policy(path)
        policy = replace(policy, default=settings.default if "default" in given else policy.default,
                         per_pool=dict(settings.per_pool) if "per_pool" in given else policy.per_pool)
        if _uses_fgd(policy) and not policy.typical_pods:
            policy = replace(policy, typical_pods=_trace_mix(trace))
        return policy
    policy = PlacementPolicy(settings.default, dict(settings.per_pool), fgd_quantized=settings.fgd_quantized)
    return replace(policy, typical_pods=_trace_mix(trace)) if _uses_fgd(policy) else policy


def _uses_fgd(policy: PlacementPolicy) -> bool:
    return policy.default is Strategy.FGD or Strategy.FGD in policy.per_pool.values()


def _trace_mix(trace: Trace) -> tuple:
    """Return FGD's typical pods as the FGD paper takes them: the most common shapes of the whole trace."""
    shapes = [(ps.cpu_milli, ps.gpu_milli if ps.gpus else 0, ps.gpus, ps.gpu_models)
              for job in trace.jobs for ps in job.pod_sets for _ in range(ps.count)]
    return typical_pods(shapes)
