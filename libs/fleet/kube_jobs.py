"""Workload specs as the BatchJobs a team would write (pure), for the demo and benchmarks on Kubernetes: the same
pod sets, requests, GPU models, topology and risky settings, and a kwok run time of the workload's duration."""

from __future__ import annotations

from libs.events import PodSet, WorkloadSpec

KWOK_COMPLETE = "pod-complete.stage.kwok.x-k8s.io/delay"


def pod_template(ps: PodSet, run_s: float | None) -> dict:
    """Returns the pod template of a pod set; on kwok, its pods succeed ``run_s`` wall seconds after starting."""
    r = ps.requests
    resources: dict = {"requests": {"cpu": f"{r.cpu_milli}m", "memory": f"{r.memory_mib}Mi"}}
    if r.gpu:
        resources["limits"] = {"nvidia.com/gpu": str(r.gpu)}
    container: dict = {"name": "main", "image": ps.image, "resources": resources}
    if ps.privileged:
        container["securityContext"] = {"privileged": True}
    annotations = {KWOK_COMPLETE: f"{run_s:.2f}s"} if run_s is not None else {}
    if r.gpu_milli:
        annotations["batchyard.dev/gpu-milli"] = str(r.gpu_milli)
    spec: dict = {"restartPolicy": "Never", "containers": [container]}
    if ps.node_selector:
        spec["nodeSelector"] = dict(ps.node_selector)
    if ps.tolerations:
        spec["tolerations"] = [t.model_dump(exclude_none=True) for t in ps.tolerations]
    if ps.host_network:
        spec["hostNetwork"] = True
    if ps.host_pid:
        spec["hostPID"] = True
    return {"metadata": {"annotations": annotations}, "spec": spec}


def batchjob(spec: WorkloadSpec, name: str, namespace: str, *, time_scale: float = 1.0,
             labels: dict[str, str] | None = None) -> dict:
    """Returns the BatchJob of ``spec``; its pods run for ``spec.duration_s / time_scale`` wall seconds on kwok."""
    pod_sets = []
    for ps in spec.pod_sets:
        entry: dict = {"name": ps.name, "count": ps.count,
                       "template": pod_template(ps, spec.duration_s / time_scale)}
        if ps.min_count:
            entry["minCount"] = ps.min_count
        if ps.gpu_model:
            entry["gpuModel"] = ps.gpu_model
        if ps.topology:
            entry["topology"] = {"level": ps.topology.level, "mode": ps.topology.mode.value}
        pod_sets.append(entry)
    body: dict = {"queue": spec.queue or "default", "workloadKind": spec.kind, "podSets": pod_sets}
    if spec.priority_class:
        body["priorityClass"] = spec.priority_class
    if spec.max_runtime_s:
        body["maxRuntimeSeconds"] = spec.max_runtime_s
    if spec.backoff_limit:
        body["backoffLimit"] = spec.backoff_limit
    return {"apiVersion": "batchyard.dev/v1alpha1", "kind": "BatchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "spec": body}
