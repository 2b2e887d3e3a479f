"""Between the Kafka contract (WorkloadSubmitted / WorkloadSpec) and the core's JobSpec.

The contract is lenient (older readers accept newer writers); the core is strict (unknown fields, loose
scalars and non-Kubernetes names are schema errors). ``job_document`` maps an event to the JSON the core
parses, so every contract-valid submission gets a typed decision; ``with_defaults`` writes what the core
filled in back into the contract's spec for WorkloadAccepted.

Two deliberate gaps: ``gpu_model`` (the contract's "H100|A100" alternatives are placement hints, not a
core field) is not checked by admission; and a request of 0 CPU or memory counts as "not given", since
the contract's Resources default is 0 and cannot say "omitted".
"""

from __future__ import annotations

from typing import Any

from libs.admission import JobSpec
from libs.events import WorkloadSpec, WorkloadSubmitted
from libs.events.workload import PodSet, Resources


def job_document(event: WorkloadSubmitted) -> dict[str, Any]:
    """Returns the submission as the core's JobSpec document (unparsed: the core validates it)."""
    spec = event.spec
    return {
        "workload_id": event.workload_id,
        "tenant": {"org": event.tenant.org, "team": event.tenant.team} if event.tenant else None,
        "queue": spec.queue,
        "priority_class": spec.priority_class,
        "labels": dict(spec.labels),
        "pod_sets": [_pod_set(p) for p in spec.pod_sets],
        "max_runtime_s": spec.max_runtime_s,
    }


def _pod_set(p: PodSet) -> dict[str, Any]:
    return {
        "name": p.name, "count": p.count, "min_count": p.min_count, "image": p.image,
        "resources": {"cpu_milli": p.requests.cpu_milli or None, "memory_mib": p.requests.memory_mib or None,
                      "gpu_count": p.requests.gpu, "gpu_milli": p.requests.gpu_milli},
        "privileged": p.privileged, "host_network": p.host_network, "host_pid": p.host_pid,
        "host_path": p.host_path, "node_selector": dict(p.node_selector),
        "tolerations": [_toleration(t) for t in p.tolerations],
        "topology": {"level": p.topology.level, "mode": p.topology.mode.value} if p.topology else None,
    }


def _toleration(t) -> dict[str, Any]:
    toleration: dict[str, Any] = {"key": t.key, "operator": "Exists" if t.value is None else "Equal"}
    if t.value is not None:
        toleration["value"] = t.value
    if t.effect is not None:
        toleration["effect"] = t.effect
    return toleration


def with_defaults(spec: WorkloadSpec, job: JobSpec) -> WorkloadSpec:
    """Returns ``spec`` with the queue, priority class, runtime and requests the core defaulted."""
    by_name = {p.name: p for p in job.pod_sets}
    pod_sets = tuple(_defaulted_pod_set(p, by_name.get(p.name)) for p in spec.pod_sets)
    return spec.model_copy(update={"queue": job.queue, "priority_class": job.priority_class,
                                   "max_runtime_s": job.max_runtime_s, "pod_sets": pod_sets})


def _defaulted_pod_set(pod_set: PodSet, job_pod_set) -> PodSet:
    if job_pod_set is None:
        return pod_set
    res = job_pod_set.resources
    if (res.cpu_milli or 0, res.memory_mib or 0) == (pod_set.requests.cpu_milli, pod_set.requests.memory_mib):
        return pod_set  # nothing was defaulted (the usual case): skip the copies
    requests = Resources(cpu_milli=res.cpu_milli or 0, memory_mib=res.memory_mib or 0,
                         gpu=pod_set.requests.gpu, gpu_milli=pod_set.requests.gpu_milli)
    return pod_set.model_copy(update={"requests": requests})
