"""Admission's spine policy: tenant present, no privileged or host-level pods, defaults filled in.

Identity tokens and per-tenant declarative policy build on this (see docs/admission.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.events import WorkloadSpec, WorkloadSubmitted

PRIORITY_CLASSES = {"low": -100, "normal": 0, "high": 100, "critical": 1000}
DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY_CLASS = "normal"


@dataclass(frozen=True)
class Verdict:
    """Accepted (with the defaulted spec and priority) or rejected (with reason code, rule and message)."""

    accepted: bool
    spec: WorkloadSpec | None = None
    priority: int = 0
    reason: str | None = None
    rule: str | None = None
    message: str | None = None


def reject(reason: str, rule: str, message: str) -> Verdict:
    return Verdict(False, reason=reason, rule=rule, message=message)


def decide(event: WorkloadSubmitted) -> Verdict:
    """Returns the verdict on one submission."""
    if event.tenant is None:
        return reject("missing-tenant", "identity.tenant", "submission names no org/team")
    if not event.workload_id:
        return reject("missing-workload-id", "contract.workload_id", "submission has no workload_id")
    for pod_set in event.spec.pod_sets:
        for flag, rule in (("privileged", "no-privileged"), ("host_network", "no-host-network"),
                           ("host_pid", "no-host-pid"), ("host_path", "no-host-path")):
            if getattr(pod_set, flag):
                return reject("policy-violation", rule, f"pod set {pod_set.name} asks for {flag}, which is not allowed")
    priority_class = event.spec.priority_class or DEFAULT_PRIORITY_CLASS
    if priority_class not in PRIORITY_CLASSES:
        return reject("unknown-priority-class", "priority-classes",
                      f"priority class {priority_class!r} does not exist; use one of {sorted(PRIORITY_CLASSES)}")
    spec = event.spec.model_copy(update={"queue": event.spec.queue or DEFAULT_QUEUE,
                                         "priority_class": priority_class})
    return Verdict(True, spec=spec, priority=PRIORITY_CLASSES[priority_class])
