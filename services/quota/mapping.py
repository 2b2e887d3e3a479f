"""Pure conversions between batchyard events and the quota core (libs/quota).

- ``workload_of``: a WorkloadAccepted's spec → the core's Workload (team = LocalQueue namespace), with
  what decides flavor eligibility in Kueue's terms (``libs.quota.eligibility``): the pod set's node
  selector and tolerations as given; its GPU model list as a required affinity term
  ``batchyard.dev/gpu-model In (models)``; a CPU-only pod set gets ``batchyard.dev/gpu-model DoesNotExist``
  (so it never takes a GPU flavor). Two batchyard rules go to ``excluded_flavors``: a GPU pod set never
  takes a flavor without a GPU model label, and never a flavor the scheduler reported its pods can never fit.
- ``reserved_spec``: the spec QuotaReserved carries, each pod set's count cut to the count reserved
  (partial admission), so placement never places more pods than quota holds.
- ``assignments_of``: the core's Admission → FlavorAssignment per pod set for QuotaReserved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from libs.events import FlavorAssignment, WorkloadSpec
from libs.events import PodSet as EventPodSet
from libs.events.workload import Toleration as EventToleration
from libs.quota import (Admission, NodeSelectorRequirement, PodSet, PodSetAssignment, QuotaConfig,
                        SelectorOperator, Toleration, Workload)

CLUSTER, POOL, GPU_MODEL = "batchyard.dev/cluster", "batchyard.dev/pool", "batchyard.dev/gpu-model"
GPU = "nvidia.com/gpu"


def requests_of(pod_set: EventPodSet) -> dict[str, int]:
    """Returns one pod's requests in the core's units (millicores, bytes, whole GPUs; shares round up)."""
    r = pod_set.requests
    gpus = r.gpu + (1 if r.gpu_milli else 0)
    amounts = {"cpu": r.cpu_milli, "memory": r.memory_mib * 2**20, GPU: gpus}
    return {k: v for k, v in amounts.items() if v > 0}


def wants_gpu(pod_set: EventPodSet) -> bool:
    return bool(pod_set.requests.gpu or pod_set.requests.gpu_milli)


def affinity_of(pod_set: EventPodSet) -> tuple[tuple[NodeSelectorRequirement, ...], ...]:
    """Returns the required affinity a pod set's GPU needs put on flavors (one term)."""
    if not wants_gpu(pod_set):
        return ((NodeSelectorRequirement(GPU_MODEL, SelectorOperator.DOES_NOT_EXIST),),)
    if pod_set.gpu_model:
        models = tuple(sorted(set(pod_set.gpu_model.split("|"))))
        return ((NodeSelectorRequirement(GPU_MODEL, SelectorOperator.IN, models),),)
    return ()


def toleration_of(t: EventToleration) -> Toleration:
    """Returns the core's toleration (no value: Exists; no effect: every effect)."""
    return Toleration(t.key, "Equal" if t.value is not None else "Exists", t.value or "", t.effect or "")


def gpu_less(pod_set: EventPodSet, flavors: Iterable[str], config: QuotaConfig) -> set[str]:
    """Returns the flavors a GPU pod set may not take because they label no GPU model."""
    if not wants_gpu(pod_set) or not any(GPU_MODEL in f.node_labels for f in config.flavors.values()):
        return set()
    return {n for n in flavors if n in config.flavors and GPU_MODEL not in config.flavors[n].node_labels}


def queue_flavors(config: QuotaConfig, team: str, queue: str) -> tuple[str | None, list[str]]:
    """Returns the cluster queue a local queue points at and every flavor it lists (None, [] if unrouted)."""
    lq = config.local_queues.get((team, queue))
    cq = config.cluster_queues.get(lq.cluster_queue) if lq else None
    if cq is None:
        return None, []
    return cq.name, [f.flavor for g in cq.resource_groups for f in g.flavors]


def workload_of(workload_id: str, team: str, spec: WorkloadSpec, priority: int, created_at: float,
                config: QuotaConfig, excluded: Iterable[str] = ()) -> Workload:
    """Returns the core's Workload for an accepted spec (``excluded``: flavors its pods never fit)."""
    queue = spec.queue or "default"
    _, flavors = queue_flavors(config, team, queue)
    pod_sets = tuple(PodSet(ps.name, ps.count, requests_of(ps), ps.min_count, dict(ps.node_selector),
                            affinity_of(ps), tuple(toleration_of(t) for t in ps.tolerations),
                            frozenset(gpu_less(ps, flavors, config) | set(excluded)))
                     for ps in spec.pod_sets)
    return Workload(workload_id, team, queue, pod_sets, priority, created_at)


def reserved_spec(spec: WorkloadSpec, admission: Admission) -> WorkloadSpec:
    """Returns ``spec`` with each pod set's count cut to the pods reserved (``min_count`` kept)."""
    counts = {a.pod_set: a.count for a in admission.pod_sets if a.count is not None}
    pod_sets = tuple(ps.model_copy(update={"count": counts[ps.name]})
                     if counts.get(ps.name, ps.count) != ps.count else ps for ps in spec.pod_sets)
    return spec.model_copy(update={"pod_sets": pod_sets}) if pod_sets != spec.pod_sets else spec


def assignments_of(admission: Admission, spec: WorkloadSpec) -> tuple[FlavorAssignment, ...]:
    """Returns the FlavorAssignment of each pod set: its main flavor (GPU, else CPU) and where it lives."""
    by_name = {a.pod_set: a for a in admission.pod_sets}
    out = []
    for ps in spec.pod_sets:
        chosen = by_name[ps.name].flavors if ps.name in by_name else {}
        flavors = {f: r for r, f in chosen.items()}
        main = chosen.get(GPU) or chosen.get("cpu") or next(iter(flavors), "")
        labels = [admission.node_labels.get(f, {}) for f in [main, *sorted(set(flavors) - {main})] if f]
        clusters = tuple(dict.fromkeys(lb[CLUSTER] for lb in labels if CLUSTER in lb))
        pools = tuple(dict.fromkeys(lb[POOL] for lb in labels if POOL in lb))
        out.append(FlavorAssignment(pod_set=ps.name, flavor=main, clusters=clusters, pools=pools))
    return tuple(out)


def words(why, now: float) -> str:
    """Returns a core reason in a user's words (backoff times as UTC clock times, not epoch seconds)."""
    return re.sub(r"t=(\d+(?:\.\d+)?)", lambda m: datetime.fromtimestamp(float(m.group(1)), UTC)
                  .strftime("%H:%M:%S UTC"), why.message)


def admission_to_json(admission: Admission) -> dict:
    """Returns a JSON-able form of an Admission (usage as [flavor, resource, amount] triples)."""
    return {"cluster_queue": admission.cluster_queue,
            "pod_sets": [{"pod_set": a.pod_set, "flavors": dict(a.flavors), "count": a.count,
                          "usage": [[f, r, n] for (f, r), n in a.usage.items()]} for a in admission.pod_sets],
            "node_labels": {f: dict(lb) for f, lb in admission.node_labels.items()}}


def admission_from_json(data: Mapping) -> Admission:
    """Returns the Admission stored by ``admission_to_json``."""
    pod_sets = tuple(PodSetAssignment(a["pod_set"], dict(a["flavors"]), {(f, r): n for f, r, n in a["usage"]},
                                      a.get("count")) for a in data["pod_sets"])
    return Admission(data["cluster_queue"], pod_sets, {f: dict(lb) for f, lb in data["node_labels"].items()})
