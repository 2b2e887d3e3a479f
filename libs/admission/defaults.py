"""Fills what a submission left out (queue, priority class, per-pod requests, max runtime)."""

from __future__ import annotations

from .policy import Defaults, PolicyLayer
from .spec import JobSpec, PodSet


def apply_defaults(spec: JobSpec, policy: PolicyLayer) -> tuple[JobSpec, tuple[str, ...]]:
    """Returns `spec` with omitted fields filled from `policy`, and the paths of the fields filled.

    The max runtime falls back to the per-job runtime limit when no default is set, so a job
    that states no runtime gets the longest one it may have rather than a rejection.
    """
    defaults = policy.defaults or Defaults()
    limit = policy.job_limits.max_runtime_s if policy.job_limits else None
    filled: list[str] = []
    update: dict[str, object] = {}
    for name, value in (
        ("queue", defaults.queue),
        ("priority_class", defaults.priority_class),
        ("max_runtime_s", defaults.max_runtime_s if defaults.max_runtime_s is not None else limit),
    ):
        if getattr(spec, name) is None and value is not None:
            update[name] = value
            filled.append(name)
    update["pod_sets"] = tuple(_default_pod_set(pod_set, defaults, filled) for pod_set in spec.pod_sets)
    return spec.model_copy(update=update), tuple(filled)


def _default_pod_set(pod_set: PodSet, defaults: Defaults, filled: list[str]) -> PodSet:
    """Returns `pod_set` with omitted resource requests filled; appends the paths filled."""
    resources = pod_set.resources
    update: dict[str, object] = {}
    for name, value in (
        ("cpu_milli", defaults.cpu_milli),
        ("memory_mib", defaults.memory_mib),
        ("gpu_count", 0),
        ("gpu_milli", 0),
    ):
        if getattr(resources, name) is None and value is not None:
            update[name] = value
            if value:  # filling "no GPUs" is not worth reporting
                filled.append(f"pod_sets.{pod_set.name}.resources.{name}")
    if not update:
        return pod_set
    return pod_set.model_copy(update={"resources": resources.model_copy(update=update)})
