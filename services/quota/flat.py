"""Flat quota (the spine's policy): the first flavor, in order, whose nominal quota still fits the workload.

Pure: given the config, current usage and a workload's request, it answers which flavor or why not.
The full Kueue semantics (cohorts, borrowing, fair sharing, preemption) live in libs/quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.events import WorkloadSpec
from services.quota.config import ClusterQueue, Flavor, QuotaConfig

Usage = dict[str, dict[str, int]]  # flavor → resource → amount in use


def requests_of(spec: WorkloadSpec) -> dict[str, int]:
    """Returns the workload's total request per quota resource (GPU shares round up to whole GPUs per pod)."""
    total = {"cpu": 0, "memory": 0, "nvidia.com/gpu": 0, "pods": 0}
    for ps in spec.pod_sets:
        r = ps.requests
        total["cpu"] += r.cpu_milli * ps.count
        total["memory"] += r.memory_mib * ps.count
        total["nvidia.com/gpu"] += (r.gpu + (1 if r.gpu_milli else 0)) * ps.count
        total["pods"] += ps.count
    return total


@dataclass(frozen=True)
class FlavorChoice:
    flavor: Flavor | None
    reason: str | None = None
    message: str | None = None


def choose_flavor(config: QuotaConfig, cq: ClusterQueue, spec: WorkloadSpec, usage: Usage,
                  excluded: frozenset[str] = frozenset()) -> FlavorChoice:
    """Returns the first flavor that can host the workload within nominal quota, or why none can."""
    want = requests_of(spec)
    needs_gpu = want["nvidia.com/gpu"] > 0
    misses: list[str] = []
    for name, nominal in cq.nominal.items():
        flavor = config.flavors[name]
        if name in excluded or needs_gpu != bool(flavor.gpu_model) or not _models_allowed(spec, flavor):
            continue
        used = usage.get(name, {})
        short = [res for res, amount in want.items() if res in nominal and used.get(res, 0) + amount > nominal[res]]
        if not short:
            return FlavorChoice(flavor)
        misses.append(f"{name}: " + ", ".join(f"{res} {used.get(res, 0)}+{want[res]} > {nominal[res]}"
                                              for res in short))
    if not misses:
        return FlavorChoice(None, "no-matching-flavor",
                            f"cluster queue {cq.name} has no flavor for this workload's GPU model/resources")
    return FlavorChoice(None, "quota-exhausted", f"{cq.name} at nominal quota: " + "; ".join(misses))


def _models_allowed(spec: WorkloadSpec, flavor: Flavor) -> bool:
    for ps in spec.pod_sets:
        if ps.gpu_model and flavor.gpu_model and flavor.gpu_model not in ps.gpu_model.split("|"):
            return False
    return True


def add_usage(usage: Usage, flavor: str, want: dict[str, int], sign: int = 1) -> None:
    bucket = usage.setdefault(flavor, {})
    for res, amount in want.items():
        bucket[res] = bucket.get(res, 0) + sign * amount
