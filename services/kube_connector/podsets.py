"""Pod templates as batchyard pod sets (pure): requests, GPUs, placement constraints and risky settings.

A pod's request is what the scheduler would count: the sum over its containers, or the largest init
container if that is more, plus the pod's overhead; a container that sets only limits requests its limits.
Raises ``Invalid`` with a reason code when a template cannot be read as a pod set.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from libs.events import PodSet, Resources, TopologyRequest
from libs.events.workload import Toleration
from libs.events.registry import describe
from libs.quota.quantity import QuantityError, parse_quantity
from services.kube_connector.nodes import GPU, gpu_model

GPU_MILLI = "batchyard.dev/gpu-milli"  # pod annotation: a share of one GPU (thousandths), for GPU sharing
GPU_MODEL = "batchyard.dev/gpu-model"  # pod annotation: allowed GPU models, e.g. "H100|A100"
PRODUCT_LABEL = "nvidia.com/gpu.product"
KUEUE_REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
KUEUE_PREFERRED_TOPOLOGY = "kueue.x-k8s.io/podset-preferred-topology"
LEVEL_OF_LABEL = {"topology.kubernetes.io/zone": "zone", "kubernetes.io/hostname": "host",
                  "batchyard.dev/block": "block", "cloud.google.com/gce-topology-block": "block",
                  "topology.k8s.aws/network-node-layer-1": "block", "batchyard.dev/rack": "rack",
                  "cloud.google.com/gce-topology-subblock": "rack", "topology.k8s.aws/network-node-layer-2": "rack"}


class Invalid(ValueError):
    """An object batchyard cannot run as written; ``reason`` is a code, the message says what to change."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class PodSetSource:
    """One pod set as a job kind describes it, before translation."""

    name: str
    template: dict
    count: int
    min_count: int | None = None
    topology: TopologyRequest | None = None
    gpu_model: str | None = None


def pod_set(source: PodSetSource) -> PodSet:
    """Returns the PodSet of ``source``; raises Invalid saying what is wrong with its template."""
    spec = (source.template or {}).get("spec") or {}
    meta = (source.template or {}).get("metadata") or {}
    containers = spec.get("containers") or []
    if not containers:
        raise Invalid("invalid_pod_template", f"pod set {source.name}: the pod template has no containers")
    annotations = meta.get("annotations") or {}
    selector = dict(spec.get("nodeSelector") or {})
    product = selector.pop(PRODUCT_LABEL, None)
    try:
        return PodSet(
            name=source.name, count=source.count, min_count=source.min_count,
            image=str(containers[0].get("image") or "")[:512], requests=requests(source.name, spec, annotations),
            gpu_model=source.gpu_model or annotations.get(GPU_MODEL) or gpu_model(product),
            node_selector=selector, tolerations=_tolerations(spec.get("tolerations") or ()),
            topology=source.topology or topology_of(annotations),
            privileged=any(((c.get("securityContext") or {}).get("privileged")) for c in _all_containers(spec)),
            host_network=bool(spec.get("hostNetwork")), host_pid=bool(spec.get("hostPID")),
            host_path=any("hostPath" in v for v in spec.get("volumes") or ()))
    except ValidationError as exc:
        raise Invalid("invalid_pod_set", f"pod set {source.name}: {describe(exc)}") from None


def _all_containers(spec: dict) -> list[dict]:
    return [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]


def requests(name: str, spec: dict, annotations: dict) -> Resources:
    """Returns the pod's effective request (see the module docstring)."""
    totals = {"cpu": 0, "memory": 0, GPU: 0}
    for container in spec.get("containers") or ():
        for resource, amount in _container_requests(name, container).items():
            totals[resource] += amount
    for container in spec.get("initContainers") or ():
        for resource, amount in _container_requests(name, container).items():
            totals[resource] = max(totals[resource], amount)
    for resource, value in (spec.get("overhead") or {}).items():
        if resource in totals:
            totals[resource] += _parse(name, resource, value)
    milli = annotations.get(GPU_MILLI)
    try:
        return Resources(cpu_milli=totals["cpu"], memory_mib=-(-totals["memory"] // 2**20), gpu=totals[GPU],
                         gpu_milli=int(milli) if milli is not None and not totals[GPU] else 0)
    except (ValidationError, ValueError) as exc:
        detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise Invalid("invalid_requests", f"pod set {name}: {detail}") from None


def _container_requests(name: str, container: dict) -> dict[str, int]:
    resources = container.get("resources") or {}
    asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {r: _parse(name, r, asked[r]) for r in ("cpu", "memory", GPU) if r in asked}


def _parse(name: str, resource: str, value) -> int:
    try:
        return parse_quantity(resource, value)
    except QuantityError as exc:
        raise Invalid("invalid_quantity", f"pod set {name}: {exc}") from None


def _tolerations(items) -> tuple[Toleration, ...]:
    out = []
    for t in items:
        effect = t.get("effect") or None
        if effect not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
            continue
        out.append(Toleration(key=t.get("key") or "", value=t.get("value") if t.get("operator") != "Exists" else None,
                              effect=effect))
    return tuple(out)


def topology_of(annotations: dict) -> TopologyRequest | None:
    """Returns the topology request of Kueue's pod-set annotations (a node label key names the level)."""
    for key, mode in ((KUEUE_REQUIRED_TOPOLOGY, "required"), (KUEUE_PREFERRED_TOPOLOGY, "preferred")):
        if key in annotations:
            level = LEVEL_OF_LABEL.get(annotations[key])
            if level is None:
                raise Invalid("unknown_topology_level", f"{key}: {annotations[key]!r} names no topology level "
                              f"batchyard knows ({', '.join(sorted(LEVEL_OF_LABEL))})")
            return TopologyRequest(level=level, mode=mode)
    return None
