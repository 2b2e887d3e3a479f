"""Workload events: submission, admission, quota, placement and lifecycle."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from libs.events.envelope import NAME, Event, Frozen

MAX_BACKOFF_LIMIT = 100
RETRIED_REASONS = frozenset({"pod-failed"})  # a run's failures that count against its backoff_limit; the rest
# (cancelled, deleted, evicted for good) end the workload at once


class Resources(Frozen):
    """Requests of one pod. GPUs are whole devices (``gpu``) or a share of one device (``gpu_milli`` < 1000)."""

    cpu_milli: int = Field(default=0, ge=0, le=10_000_000)
    memory_mib: int = Field(default=0, ge=0, le=100_000_000)
    gpu: int = Field(default=0, ge=0, le=64)
    gpu_milli: int = Field(default=0, ge=0, le=1000, description="Fraction of one GPU, when gpu == 0.")

    @model_validator(mode="after")
    def _one_gpu_form(self) -> "Resources":
        if self.gpu and self.gpu_milli:
            raise ValueError("request whole GPUs (gpu) or a share of one (gpu_milli), not both")
        return self

    @property
    def gpu_milli_total(self) -> int:
        return self.gpu * 1000 + self.gpu_milli


class TopologyMode(StrEnum):
    REQUIRED = "required"
    PREFERRED = "preferred"


class TopologyRequest(Frozen):
    """Pods of a pod set must (or should) share one domain at ``level``: host, rack, block or zone."""

    level: Literal["host", "rack", "block", "zone"]
    mode: TopologyMode = TopologyMode.REQUIRED


class Toleration(Frozen):
    key: str = Field(max_length=253)
    value: str | None = Field(default=None, max_length=253)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class PodSet(Frozen):
    """A group of identical pods in a workload (e.g. Ray workers), scheduled as part of one gang."""

    name: str = Field(pattern=NAME)
    count: int = Field(ge=1, le=10_000)
    min_count: int | None = Field(default=None, ge=1, description="Elastic gangs: fewest pods worth running.")
    image: str = Field(default="registry.batchyard.dev/batch/runner:1", max_length=512)
    requests: Resources = Resources()
    gpu_model: str | None = Field(default=None, max_length=128, description="Allowed models, e.g. 'H100|A100'.")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    topology: TopologyRequest | None = None
    privileged: bool = False
    host_network: bool = False
    host_pid: bool = False
    host_path: bool = False

    @model_validator(mode="after")
    def _min_le_count(self) -> "PodSet":
        if self.min_count is not None and self.min_count > self.count:
            raise ValueError(f"pod set {self.name}: min_count {self.min_count} exceeds count {self.count}")
        return self


class WorkloadSpec(Frozen):
    """What a producer asks to run. ``duration_s`` drives the simulated fleet; real clusters ignore it."""

    name: str = Field(pattern=NAME)
    queue: str | None = Field(default=None, pattern=NAME, description="Local queue; admission defaults it.")
    priority_class: str | None = Field(default=None, pattern=NAME)
    kind: Literal["batch", "spark", "ray", "pytorch", "llm-inference"] = "batch"
    labels: dict[str, str] = Field(default_factory=dict)
    pod_sets: tuple[PodSet, ...] = Field(min_length=1, max_length=16)
    max_runtime_s: int | None = Field(default=None, ge=1)
    backoff_limit: int = Field(default=0, ge=0, le=MAX_BACKOFF_LIMIT, description=(
        "Failed runs retried before the workload fails (Kubernetes Job's backoffLimit): each failure up to this "
        "many is requeued with exponential backoff; 0, the default, makes the first failure final."))
    duration_s: float = Field(default=60.0, gt=0, le=30 * 24 * 3600, description="Simulated run time.")

    @model_validator(mode="after")
    def _unique_pod_sets(self) -> "WorkloadSpec":
        names = [p.name for p in self.pod_sets]
        if len(set(names)) != len(names):
            raise ValueError(f"pod set names must be unique, got {names}")
        return self

    @property
    def pod_count(self) -> int:
        return sum(p.count for p in self.pod_sets)


class WorkloadSubmitted(Event):
    """A producer asks batchyard to run a workload. ``token`` binds the caller to its tenant."""

    type: Literal["WorkloadSubmitted"] = "WorkloadSubmitted"
    spec: WorkloadSpec
    token: str | None = Field(default=None, max_length=4096)


class WorkloadAccepted(Event):
    """Admission accepted the workload; ``spec`` has the defaults filled in."""

    type: Literal["WorkloadAccepted"] = "WorkloadAccepted"
    spec: WorkloadSpec
    priority: int = 0


class WorkloadRejected(Event):
    """Admission refused the workload. ``reason`` is machine-readable, ``message`` is for people."""

    type: Literal["WorkloadRejected"] = "WorkloadRejected"
    reason: str = Field(max_length=64)
    message: str = Field(max_length=2000)
    rule: str | None = Field(default=None, max_length=128)


class WorkloadCancelRequested(Event):
    """A producer asks batchyard to cancel one of its team's workloads. ``token`` binds the caller to its tenant,
    exactly as for a submission; the envelope's ``tenant`` and ``workload_id`` name the workload."""

    type: Literal["WorkloadCancelRequested"] = "WorkloadCancelRequested"
    reason: str = Field(default="", max_length=500, description="Why, in the caller's words (audit, status).")
    token: str | None = Field(default=None, max_length=4096)


class WorkloadCancelled(Event):
    """Admission cancelled the workload: it is never placed again, and what runs of it is stopped.

    Admission emits it once, on the admission topic; quota forwards it on the quota topic once it has released
    the workload, and the scheduler on the placement topic once it has forgotten it (``placed``: whether the
    scheduler had it placed). Each copy follows everything its emitter said before about the workload.
    """

    type: Literal["WorkloadCancelled"] = "WorkloadCancelled"
    reason: str = Field(default="", max_length=500, description="The caller's reason.")
    cancelled_by: str | None = Field(default=None, max_length=256, description="The verified caller (token sub).")
    cancelled_at: datetime = Field(description="When admission decided the cancellation (UTC).")
    placed: bool | None = Field(default=None, description="Scheduler's copy: whether it had the workload placed; "
                                "None from admission and quota, which do not know.")


class WorkloadCancelRefused(Event):
    """Admission refused a cancel request. ``reason`` is machine-readable, ``message`` is for people.

    Not a WorkloadRejected: the workload itself stays as it was (admitted, running or finished).
    """

    type: Literal["WorkloadCancelRefused"] = "WorkloadCancelRefused"
    reason: str = Field(max_length=64)
    message: str = Field(max_length=2000)


class WorkloadSuspendRequested(Event):
    """A producer asks batchyard to suspend one of its team's workloads (Kueue's ``spec.active: false``): its quota
    is released and what runs of it is stopped, until a WorkloadResumeRequested. Signed like a cancel request."""

    type: Literal["WorkloadSuspendRequested"] = "WorkloadSuspendRequested"
    reason: str = Field(default="", max_length=500, description="Why, in the caller's words (audit, status).")
    token: str | None = Field(default=None, max_length=4096)


class WorkloadResumeRequested(Event):
    """A producer asks batchyard to resume one of its team's suspended workloads: it is queued again, pending, as a
    fresh attempt. Signed like a cancel request."""

    type: Literal["WorkloadResumeRequested"] = "WorkloadResumeRequested"
    reason: str = Field(default="", max_length=500, description="Why, in the caller's words (audit, status).")
    token: str | None = Field(default=None, max_length=4096)


class WorkloadSuspended(Event):
    """Admission suspended the workload: its quota is released, it is never placed while suspended, and what runs
    of it is stopped (ending in WorkloadEvicted, reason ``suspended``).

    Copied down the pipeline as WorkloadCancelled is (docs/adr/0016-suspend-resume-priority-retries.md): admission
    on the admission topic, quota on the quota topic, the scheduler on the placement topic with ``placed`` filled
    in. Only the scheduler's copy stops pods: it follows every WorkloadPlaced of the run it suspends.
    """

    type: Literal["WorkloadSuspended"] = "WorkloadSuspended"
    reason: str = Field(default="", max_length=500, description="The caller's reason.")
    suspended_by: str | None = Field(default=None, max_length=256, description="The verified caller (token sub).")
    suspended_at: datetime = Field(description="When admission decided the suspension (UTC); names this "
                                   "suspension in every copy.")
    placed: bool | None = Field(default=None, description="Scheduler's copy: whether it had the workload placed; "
                                "None from admission and quota, which do not know.")


class WorkloadResumed(Event):
    """Admission resumed a suspended workload; quota queues it again as pending (a fresh attempt, at the back of
    its queue) once the suspended run has stopped."""

    type: Literal["WorkloadResumed"] = "WorkloadResumed"
    reason: str = Field(default="", max_length=500, description="The caller's reason.")
    resumed_by: str | None = Field(default=None, max_length=256, description="The verified caller (token sub).")
    resumed_at: datetime = Field(description="When admission decided the resumption (UTC).")


class WorkloadPriorityChangeRequested(Event):
    """A producer asks batchyard to give one of its team's pending or running workloads another priority class
    (Kueue's mutable workload priority). Signed like a cancel request; the class must be one the team may use."""

    type: Literal["WorkloadPriorityChangeRequested"] = "WorkloadPriorityChangeRequested"
    priority_class: str = Field(pattern=NAME, description="The priority class the workload should have from now.")
    reason: str = Field(default="", max_length=500, description="Why, in the caller's words (audit, status).")
    token: str | None = Field(default=None, max_length=4096)


class WorkloadPriorityChanged(Event):
    """Admission changed a workload's priority class; what the change means follows Kueue
    (docs/adr/0016-suspend-resume-priority-retries.md): a pending workload takes its new place in its queue at
    once (priority first, then its creation time, which does not change), and a reserved or running workload
    defends its quota and its nodes with the new priority against preemption, and preempts with it.

    Admission emits it on the admission topic; quota forwards it on the quota topic once its queues and
    reservations hold the new priority, after every QuotaReserved of the workload, for the scheduler.
    """

    type: Literal["WorkloadPriorityChanged"] = "WorkloadPriorityChanged"
    priority_class: str = Field(pattern=NAME)
    priority: int = Field(description="The class's priority value (admission's priority_classes table).")
    previous_class: str | None = Field(default=None, pattern=NAME)
    previous_priority: int = 0
    reason: str = Field(default="", max_length=500, description="The caller's reason.")
    changed_by: str | None = Field(default=None, max_length=256, description="The verified caller (token sub).")
    changed_at: datetime = Field(description="When admission decided the change (UTC).")


class WorkloadRequestRefused(Event):
    """Admission refused a request about an admitted workload (suspend, resume, priority). ``reason`` is
    machine-readable, ``message`` is for people. The workload stays as it was."""

    type: Literal["WorkloadRequestRefused"] = "WorkloadRequestRefused"
    request: Literal["suspend", "resume", "priority"] = Field(description="Which request was refused.")
    reason: str = Field(max_length=64)
    message: str = Field(max_length=2000)


class FlavorAssignment(Frozen):
    """The resource flavor quota chose for one pod set, and where that flavor lives."""

    pod_set: str
    flavor: str
    clusters: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()


class QuotaReserved(Event):
    type: Literal["QuotaReserved"] = "QuotaReserved"
    cluster_queue: str
    flavors: tuple[FlavorAssignment, ...]
    spec: WorkloadSpec
    priority: int = 0
    failures: int = Field(default=0, ge=0, description="Runs of this workload that failed before this "
                          "reservation, each retried under its spec's backoff_limit.")


class QuotaReleased(Event):
    type: Literal["QuotaReleased"] = "QuotaReleased"
    cluster_queue: str
    reason: str = Field(max_length=64)


class WorkloadPending(Event):
    """Quota cannot admit the workload yet; ``message`` says why and ``position`` where it waits."""

    type: Literal["WorkloadPending"] = "WorkloadPending"
    cluster_queue: str | None = None
    reason: str = Field(max_length=64)
    message: str = Field(max_length=2000)
    position: int | None = None


class PodAssignment(Frozen):
    pod_set: str
    index: int = Field(ge=0)
    node_id: str
    gpus: tuple[int, ...] = Field(default=(), description="Indices of the node's GPUs the pod is bound to "
                                  "(a shared GPU fraction names one index).")


class WorkloadPlaced(Event):
    """The scheduler bound every pod of the gang to a node."""

    type: Literal["WorkloadPlaced"] = "WorkloadPlaced"
    cluster: str
    assignments: tuple[PodAssignment, ...]
    spec: WorkloadSpec
    cluster_queue: str | None = None
    cluster_reason: str | None = Field(default=None, max_length=2000, description=(
        "When the flavor spans clusters: why this cluster (fit, then price, then locality), and the others' "
        "standing."))
    failures: int = Field(default=0, ge=0, description="Runs of this workload that failed before this placement "
                          "(QuotaReserved's count): the runner numbers this run's failure from it.")


class WorkloadUnschedulable(Event):
    type: Literal["WorkloadUnschedulable"] = "WorkloadUnschedulable"
    reason: str = Field(max_length=64)
    message: str = Field(max_length=4000)


class PreemptionRequested(Event):
    """Quota or the scheduler asks the connector to evict ``workload_id`` so ``preemptor`` can run."""

    type: Literal["PreemptionRequested"] = "PreemptionRequested"
    preemptor: str | None = None
    reason: str = Field(max_length=64)
    message: str = Field(max_length=2000)
    preemptor_priority: int | None = Field(default=None, description="Priority of the preemptor, when known.")
    victim_priority: int | None = Field(default=None, description="Priority of the workload being evicted.")
    nodes: tuple[str, ...] = Field(default=(), description="Nodes the eviction frees (node-level preemption).")


class WorkloadRunning(Event):
    type: Literal["WorkloadRunning"] = "WorkloadRunning"
    cluster: str


class WorkloadSucceeded(Event):
    type: Literal["WorkloadSucceeded"] = "WorkloadSucceeded"
    cluster: str


class WorkloadFailed(Event):
    """A run failed. Final unless the runner retries it: then every service takes it as a run's end that requeues
    the workload (quota, with backoff), not as the workload's end (``ends_workload``)."""

    type: Literal["WorkloadFailed"] = "WorkloadFailed"
    cluster: str
    reason: str = Field(max_length=64)
    message: str = Field(default="", max_length=2000)
    attempt: int = Field(default=1, ge=1, description="The failed run's number among the workload's failed runs "
                         "(its placement's failures + 1).")
    final: bool = Field(default=True, description="False when the failure is retried: its reason is one of "
                        "RETRIED_REASONS and attempt <= the spec's backoff_limit.")


def retried(reason: str, attempt: int, backoff_limit: int) -> bool:
    """Returns whether a run's failure is retried: a pod failure within the workload's backoff limit."""
    return reason in RETRIED_REASONS and attempt <= backoff_limit


def failure(reason: str, message: str, *, cluster: str, failures: int, backoff_limit: int) -> WorkloadFailed:
    """Returns a placed run's WorkloadFailed, numbered after its placement's ``failures``, final or retried under
    the workload's ``backoff_limit``."""
    attempt = failures + 1
    return WorkloadFailed(cluster=cluster, reason=reason, message=message[:2000], attempt=attempt,
                          final=not retried(reason, attempt, backoff_limit))


def ends_workload(event: Event) -> bool:
    """Returns whether a lifecycle event ends its workload: a success, or a failure that is not retried."""
    return event.type == "WorkloadSucceeded" or (event.type == "WorkloadFailed" and getattr(event, "final", True))


class WorkloadEvicted(Event):
    type: Literal["WorkloadEvicted"] = "WorkloadEvicted"
    cluster: str
    reason: str = Field(max_length=64)
    message: str = Field(default="", max_length=2000)
