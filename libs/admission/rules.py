"""The policy rules: each a pure function from (defaulted spec, tenant policy, usage) to violations.

`RULES` is the single ordered table. `evaluate` runs every rule, in table order and, within
a rule, in pod-set order, so the same submission always yields the same violations in the
same order and the first one is the rule named in the rejection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .policy import PolicyLayer
from .reasons import Violation, echo
from .spec import JobSpec, image_repository


@dataclass(frozen=True, slots=True)
class TeamUsage:
    """What a team already has admitted and unfinished, read by the service from its own state."""

    gpu_milli: int = 0  # thousandths of a GPU held by the team's admitted workloads
    pods: int = 0  # pods of the team's admitted workloads
    workloads: int = 0  # admitted, unfinished workloads


Rule = Callable[[JobSpec, PolicyLayer, TeamUsage], Iterator[Violation]]


def registry_allowed(image: str, allowed: tuple[str, ...]) -> bool:
    """Returns whether `image` comes from one of the `allowed` registries or host/path prefixes."""
    repository = image_repository(image)
    # Match on whole path components: "ghcr.io/acme" must not admit "ghcr.io/acme-evil".
    return any(repository.startswith(prefix.rstrip("/") + "/") for prefix in allowed)


def image_registry(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """Each pod set's image must come from an allowed registry."""
    allowed = policy.allowed_registries or ()
    for pod_set in spec.pod_sets:
        if not registry_allowed(pod_set.image, allowed):
            shown = ", ".join(allowed) if allowed else "none configured"
            yield Violation(
                "image.registry",
                f"pod set {pod_set.name}: image {echo(pod_set.image)} is not from an allowed registry ({shown})",
                pod_set.name,
            )


def _host_flag(rule: str, flag: str, allow: str, words: str) -> Rule:
    def check(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
        if getattr(policy, allow):
            return
        for pod_set in spec.pod_sets:
            if getattr(pod_set, flag):
                yield Violation(rule, f"pod set {pod_set.name}: {words} are not allowed for this team", pod_set.name)

    check.__name__ = rule.replace(".", "_")
    check.__doc__ = f"No pod set may request {words} unless the tenant policy allows it."
    return check


pod_privileged = _host_flag("pod.privileged", "privileged", "allow_privileged", "privileged containers")
pod_host_network = _host_flag("pod.host_network", "host_network", "allow_host_network", "hostNetwork pods")
pod_host_pid = _host_flag("pod.host_pid", "host_pid", "allow_host_pid", "hostPID pods")
pod_host_path = _host_flag("pod.host_path", "host_path", "allow_host_path", "hostPath volumes")


def job_max_gpus(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The whole gang may not ask for more GPUs than the per-job maximum."""
    limit = policy.job_limits.max_gpus if policy.job_limits else None
    if limit is not None and spec.total_gpu_milli() > limit * 1000:
        asked = _gpus(spec.total_gpu_milli())
        yield Violation("job.max_gpus", f"job asks for {asked} GPUs; the per-job maximum is {limit}")


def job_max_pods(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The whole gang may not have more pods than the per-job maximum."""
    limit = policy.job_limits.max_pods if policy.job_limits else None
    if limit is not None and spec.total_pods() > limit:
        yield Violation("job.max_pods", f"job has {spec.total_pods()} pods; the per-job maximum is {limit}")


def job_max_runtime(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The job's max runtime may not exceed the per-job maximum."""
    limit = policy.job_limits.max_runtime_s if policy.job_limits else None
    if limit is not None and (spec.max_runtime_s is None or spec.max_runtime_s > limit):
        asked = "no limit" if spec.max_runtime_s is None else f"{spec.max_runtime_s}s"
        yield Violation("job.max_runtime", f"job asks for a max runtime of {asked}; the per-job maximum is {limit}s")


def team_max_gpus(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The team's admitted GPUs plus this job's may not exceed the per-team maximum."""
    limit = policy.team_limits.max_gpus if policy.team_limits else None
    total = usage.gpu_milli + spec.total_gpu_milli()
    if limit is not None and total > limit * 1000:
        yield Violation(
            "team.max_gpus",
            f"team {spec.tenant} would hold {_gpus(total)} GPUs with this job "
            f"({_gpus(usage.gpu_milli)} already admitted); the per-team maximum is {limit}",
        )


def team_max_pods(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The team's admitted pods plus this job's may not exceed the per-team maximum."""
    limit = policy.team_limits.max_pods if policy.team_limits else None
    total = usage.pods + spec.total_pods()
    if limit is not None and total > limit:
        yield Violation(
            "team.max_pods",
            f"team {spec.tenant} would have {total} pods with this job ({usage.pods} already admitted); "
            f"the per-team maximum is {limit}",
        )


def team_max_workloads(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The team may not have more admitted, unfinished workloads than the per-team maximum."""
    limit = policy.team_limits.max_workloads if policy.team_limits else None
    if limit is not None and usage.workloads + 1 > limit:
        yield Violation(
            "team.max_workloads",
            f"team {spec.tenant} already has {usage.workloads} admitted workloads; the per-team maximum is {limit}",
        )


def labels_required(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The job must carry every required label key."""
    missing = [key for key in policy.required_labels or () if key not in spec.labels]
    if missing:
        yield Violation("labels.required", f"job lacks required label(s): {', '.join(missing)}")


def priority_allowed(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The job's priority class must be one the team may use."""
    allowed = policy.allowed_priority_classes or ()
    if spec.priority_class not in allowed:
        shown = ", ".join(allowed) if allowed else "none configured"
        asked = f"priority class {spec.priority_class}" if spec.priority_class else "no priority class (and no default)"
        yield Violation("priority.allowed", f"job asks for {asked}; this team may use: {shown}")


def queue_allowed(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage) -> Iterator[Violation]:
    """The job's queue must be one the tenant's policy grants (on top of the token's own list)."""
    if policy.allowed_queues is not None and spec.queue not in policy.allowed_queues:
        shown = ", ".join(policy.allowed_queues) or "none configured"
        yield Violation("queue.allowed", f"queue {spec.queue} is not granted to team {spec.tenant}; granted: {shown}")


# The single ordered rule table: order here is the order violations are reported in.
RULES: tuple[tuple[str, Rule], ...] = (
    ("image.registry", image_registry),
    ("pod.privileged", pod_privileged),
    ("pod.host_network", pod_host_network),
    ("pod.host_pid", pod_host_pid),
    ("pod.host_path", pod_host_path),
    ("job.max_gpus", job_max_gpus),
    ("job.max_pods", job_max_pods),
    ("job.max_runtime", job_max_runtime),
    ("team.max_gpus", team_max_gpus),
    ("team.max_pods", team_max_pods),
    ("team.max_workloads", team_max_workloads),
    ("labels.required", labels_required),
    ("priority.allowed", priority_allowed),
    ("queue.allowed", queue_allowed),
)
RULE_IDS: tuple[str, ...] = tuple(rule_id for rule_id, _ in RULES)


def evaluate(spec: JobSpec, policy: PolicyLayer, usage: TeamUsage = TeamUsage()) -> tuple[Violation, ...]:
    """Returns every violation of `spec` under `policy`, in rule-table then pod-set order."""
    return tuple(v for _, rule in RULES for v in rule(spec, policy, usage))


def _gpus(milli: int) -> str:
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli / 1000:.3f}".rstrip("0")
