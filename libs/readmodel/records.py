"""The records the workload read model returns (docs/workloads.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# What a user sees a workload as: waiting (for quota or for nodes), running on nodes, ended, or refused by admission.
STATES = ("pending", "running", "suspended", "finished", "refused")


class NotReady(Exception):
    """A service whose tables the read needs has not created them in this database yet."""

    def __init__(self, service: str, table: str) -> None:
        super().__init__(f"{service} has not created {table} in this database yet")
        self.service, self.table = service, table


@dataclass(frozen=True)
class WorkloadFilter:
    """Which workloads to list; None matches any."""

    team: str | None = None
    org: str | None = None
    queue: str | None = None  # a local queue or a cluster queue
    state: str | None = None  # one of STATES


@dataclass(frozen=True)
class WorkloadSummary:
    """One workload as `workloads list` shows it."""

    workload_id: str
    org: str | None
    team: str | None
    name: str | None  # from the spec (None: refused, admission keeps no spec)
    kind: str | None
    local_queue: str | None
    cluster_queue: str | None
    state: str  # one of STATES
    outcome: str | None  # finished: succeeded, failed or cancelled
    priority: int | None
    flavors: tuple[str, ...]  # the flavors of the current reservation, one per pod set's choice
    cluster: str | None  # where it was last placed
    position: int | None  # in its cluster queue, while quota holds it pending
    submitted_at: datetime | None  # admission's decision time
    cost_micros: int  # the ledger's sum so far
    attempts: int = 0  # requeues so far: evictions, and failed runs retried (quota requeued it each time)
    failures: int = 0  # failed runs its backoff limit retried (each one of the attempts)


@dataclass(frozen=True)
class Step:
    """One thing that happened to a workload. ``kind`` names it (submitted, refused, reserved, placed,
    unschedulable, preempted, evicted, running, succeeded, failed, cancel-requested, cancelled, suspend-requested,
    resume-requested, priority-changed, and each request's ``-refused``); ``source`` is the
    service (or connector) that said it, ``at`` that service's clock (the fleet's clock may run faster)."""

    kind: str
    source: str
    at: datetime | None
    reason: str | None = None
    message: str | None = None
    facts: dict = field(default_factory=dict)
    rule: str | None = None  # admission's policy rule, when it refused


@dataclass(frozen=True)
class Waiting:
    """Why a pending workload waits now, from whichever service holds it: quota (not reserved yet) or the
    scheduler (reserved, no nodes yet)."""

    source: str  # admission, quota or scheduler
    reason: str | None
    message: str
    position: int | None = None
    cluster_queue: str | None = None


@dataclass(frozen=True)
class WorkloadDetail:
    """Everything `workloads describe` shows of one workload."""

    summary: WorkloadSummary
    steps: tuple[Step, ...]
    waiting: Waiting | None
    trace_id: str | None
    pod_set_flavors: dict[str, tuple[str, ...]]  # current reservation: pod set -> flavors
