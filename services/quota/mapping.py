"""Pure conversions between batchyard events and the quota core (libs/quota).

- ``workload_of``: a WorkloadAccepted's spec → the core's Workload (team = LocalQueue namespace).
- Flavor eligibility: the core has no node-selector matching (Kueue checks a pod's nodeSelector and GPU
  model against a flavor's nodeLabels). We keep that here: every cluster queue's resource groups gain one
  *exclusion resource* per flavor (``batchyard.dev/not-<flavor>``), with ample quota in every flavor but
  that one. A pod set that must not land on flavor F requests one of ``not-F``, so F does not fit and the
  core moves to the next flavor. Used for GPU model, CPU-only pod sets (never on GPU flavors), node
  selectors, and flavors the scheduler reported as never fitting.
- ``assignments_of``: the core's Admission → FlavorAssignment per pod set for QuotaReserved.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from collections.abc import Iterable, Mapping
from dataclasses import replace

from libs.events import FlavorAssignment, WorkloadSpec
from libs.events import PodSet as EventPodSet
from libs.quota import (Admission, ClusterQueueSpec, PodSet, PodSetAssignment, QuotaConfig, ResourceGroup,
                        ResourceQuota, Workload)
from libs.quota.config import FlavorQuotas

EXCLUDE_PREFIX = "batchyard.dev/not-"
AMPLE = 10**15  # exclusion resources never run short
CLUSTER, POOL, GPU_MODEL = "batchyard.dev/cluster", "batchyard.dev/pool", "batchyard.dev/gpu-model"
GPU = "nvidia.com/gpu"


def exclusion(flavor: str) -> str:
    """Returns the exclusion resource of ``flavor``."""
    return EXCLUDE_PREFIX + flavor


def with_exclusions(config: QuotaConfig) -> QuotaConfig:
    """Returns ``config`` whose cluster queues cover one exclusion resource per flavor they list."""
    return replace(config, cluster_queues={n: _augment(q) for n, q in config.cluster_queues.items()})


def _augment(queue: ClusterQueueSpec) -> ClusterQueueSpec:
    groups = []
    for group in queue.resource_groups:
        names = [f.flavor for f in group.flavors]
        extra = tuple(exclusion(n) for n in names)
        flavors = tuple(FlavorQuotas(f.flavor, {**f.resources, **{exclusion(n): ResourceQuota(0 if n == f.flavor
                                                                                               else AMPLE)
                                                                  for n in names}})
                        for f in group.flavors)
        groups.append(ResourceGroup(group.covered_resources + extra, flavors))
    return replace(queue, resource_groups=tuple(groups))


def requests_of(pod_set: EventPodSet) -> dict[str, int]:
    """Returns one pod's requests in the core's units (millicores, bytes, whole GPUs; shares round up)."""
    r = pod_set.requests
    gpus = r.gpu + (1 if r.gpu_milli else 0)
    amounts = {"cpu": r.cpu_milli, "memory": r.memory_mib * 2**20, GPU: gpus}
    return {k: v for k, v in amounts.items() if v > 0}


def ineligible(pod_set: EventPodSet, flavors: Iterable[str], config: QuotaConfig) -> set[str]:
    """Returns the flavors whose node labels rule the pod set out (GPU model, CPU-only, node selector)."""
    wants_gpu = bool(pod_set.requests.gpu or pod_set.requests.gpu_milli)
    models = set(pod_set.gpu_model.split("|")) if pod_set.gpu_model else None
    out = set()
    for name in flavors:
        labels = config.flavors[name].node_labels if name in config.flavors else {}
        model = labels.get(GPU_MODEL)
        if (model is not None) != wants_gpu and GPU_MODEL in _all_labels(config):
            out.add(name)  # CPU pods stay off GPU flavors and GPU pods off CPU ones
        elif models and model and model not in models:
            out.add(name)
        elif any(k in labels and labels[k] != v for k, v in pod_set.node_selector.items()):
            out.add(name)
    return out


def _all_labels(config: QuotaConfig) -> set[str]:
    return {k for f in config.flavors.values() for k in f.node_labels}


def queue_flavors(config: QuotaConfig, team: str, queue: str) -> tuple[str | None, list[str]]:
    """Returns the cluster queue a local queue points at and every flavor it lists (None, [] if unrouted)."""
    lq = config.local_queues.get((team, queue))
    cq = config.cluster_queues.get(lq.cluster_queue) if lq else None
    if cq is None:
        return None, []
    return cq.name, [f.flavor for g in cq.resource_groups for f in g.flavors]


def workload_of(workload_id: str, team: str, spec: WorkloadSpec, priority: int, created_at: float,
                config: QuotaConfig, excluded: Iterable[str] = ()) -> Workload:
    """Returns the core's Workload for an accepted spec, with exclusion requests for ineligible flavors."""
    queue = spec.queue or "default"
    _, flavors = queue_flavors(config, team, queue)
    pod_sets = []
    for ps in spec.pod_sets:
        requests = requests_of(ps)
        for flavor in sorted((ineligible(ps, flavors, config) | set(excluded)) & set(flavors)):
            requests[exclusion(flavor)] = 1
        pod_sets.append(PodSet(ps.name, ps.count, requests))
    return Workload(workload_id, team, queue, tuple(pod_sets), priority, created_at)


def assignments_of(admission: Admission, spec: WorkloadSpec) -> tuple[FlavorAssignment, ...]:
    """Returns the FlavorAssignment of each pod set: its main flavor (GPU, else CPU) and where it lives."""
    by_name = {a.pod_set: a for a in admission.pod_sets}
    out = []
    for ps in spec.pod_sets:
        flavors = {f: r for r, f in by_name[ps.name].flavors.items() if not r.startswith(EXCLUDE_PREFIX)} \
            if ps.name in by_name else {}
        chosen = by_name[ps.name].flavors if ps.name in by_name else {}
        main = chosen.get(GPU) or chosen.get("cpu") or next(iter(flavors), "")
        labels = [admission.node_labels.get(f, {}) for f in [main, *sorted(set(flavors) - {main})] if f]
        clusters = tuple(dict.fromkeys(lb[CLUSTER] for lb in labels if CLUSTER in lb))
        pools = tuple(dict.fromkeys(lb[POOL] for lb in labels if POOL in lb))
        out.append(FlavorAssignment(pod_set=ps.name, flavor=main, clusters=clusters, pools=pools))
    return tuple(out)


def plain_words(message: str) -> str:
    """Returns a core message with the exclusion-resource mechanics put in a user's words."""
    if EXCLUDE_PREFIX not in message:
        return message
    kept = [part.strip() for part in message.split(";") if EXCLUDE_PREFIX not in part and part.strip()]
    said = ("no flavor this workload may use (GPU model, node selector, flavors its pods never fit) "
            "has room for it now")
    return "; ".join(kept + [said]) if kept and not kept[-1].endswith(":") else said if not kept else \
        "; ".join(kept[:-1] + [f"{kept[-1]} {said}"])


def words(why, now: float) -> str:
    """Returns a core reason in a user's words (backoff times as UTC clock times, not epoch seconds)."""
    message = plain_words(why.message)
    return re.sub(r"t=(\d+(?:\.\d+)?)", lambda m: datetime.fromtimestamp(float(m.group(1)), UTC)
                  .strftime("%H:%M:%S UTC"), message)


def admission_to_json(admission: Admission) -> dict:
    """Returns a JSON-able form of an Admission (usage as [flavor, resource, amount] triples)."""
    return {"cluster_queue": admission.cluster_queue,
            "pod_sets": [{"pod_set": a.pod_set, "flavors": dict(a.flavors),
                          "usage": [[f, r, n] for (f, r), n in a.usage.items()]} for a in admission.pod_sets],
            "node_labels": {f: dict(lb) for f, lb in admission.node_labels.items()}}


def admission_from_json(data: Mapping) -> Admission:
    """Returns the Admission stored by ``admission_to_json``."""
    pod_sets = tuple(PodSetAssignment(a["pod_set"], dict(a["flavors"]), {(f, r): n for f, r, n in a["usage"]})
                     for a in data["pod_sets"])
    return Admission(data["cluster_queue"], pod_sets, {f: dict(lb) for f, lb in data["node_labels"].items()})
