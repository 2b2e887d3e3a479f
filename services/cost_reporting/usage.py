"""From what a workload's events said to the canonical allocations it holds: pure, order-independent.

A workload runs one or more times (an eviction requeues it). Run *i* pairs the i-th WorkloadPlaced (by its
occurred_at, then event id) with the i-th WorkloadRunning (its start) and the i-th Succeeded / Failed /
Evicted (its end). Each run holds one allocation per (pod set, node): the pod set's requests times its pod
count on that node. Because the pairing is a function of the *set* of facts, delivery order and duplicates
cannot change the result; a late fact simply changes the set, and the ledger books the difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from libs.cost import NodeSpec, Owner, Resources, UsageInterval
from libs.events import WorkloadPlaced


@dataclass(frozen=True, slots=True)
class Fact:
    """One workload event, reduced to what cost needs."""

    event_id: str
    kind: str  # placed | running | ended
    occurred_at: datetime
    org: str | None = None
    team: str | None = None
    queue: str | None = None
    allocations: tuple[dict, ...] = ()  # placed only: per (pod set, node) requests, see placed_allocations


@dataclass(frozen=True, slots=True)
class Allocation:
    """The canonical interval of one pod set of one run on one node; ``end`` is None while it runs."""

    allocation_id: str
    workload_id: str
    node_id: str
    start: datetime
    end: datetime | None
    cpu_milli: int  # summed over the pod set's pods on the node
    memory_mib: int
    gpu_milli: int  # whole GPUs count 1000 each, so fractional GPUs are priced too
    org: str | None
    team: str | None
    queue: str | None
    source_event: str  # the WorkloadPlaced event of the run


def placed_allocations(event: WorkloadPlaced) -> list[dict]:
    """Returns the placement grouped per (pod set, node), with that group's summed requests."""
    requests = {ps.name: ps.requests for ps in event.spec.pod_sets}
    pods: dict[tuple[str, str], int] = defaultdict(int)
    for a in event.assignments:
        pods[(a.pod_set, a.node_id)] += 1
    return [{"pod_set": ps, "node_id": node, "cpu_milli": requests[ps].cpu_milli * n,
             "memory_mib": requests[ps].memory_mib * n, "gpu_milli": requests[ps].gpu_milli_total * n}
            for (ps, node), n in sorted(pods.items())]


def _ordered(facts: Iterable[Fact], kind: str) -> list[Fact]:
    return sorted((f for f in facts if f.kind == kind), key=lambda f: (f.occurred_at, f.event_id))


def derive_allocations(workload_id: str, facts: Iterable[Fact]) -> dict[str, Allocation]:
    """Returns allocation id → canonical allocation for every run whose placement and start are known."""
    facts = list({f.event_id: f for f in facts}.values())  # a set of facts: a redelivered event counts once
    placed, running, ended = (_ordered(facts, k) for k in ("placed", "running", "ended"))
    out: dict[str, Allocation] = {}
    for run, (p, r) in enumerate(zip(placed, running)):
        end = ended[run].occurred_at if run < len(ended) else None
        if end is not None and end < r.occurred_at:
            end = r.occurred_at  # clocks disagree: an end before the start books nothing
        for a in p.allocations:
            aid = f"{workload_id}#{run}/{a['pod_set']}@{a['node_id']}"
            out[aid] = Allocation(aid, workload_id, a["node_id"], r.occurred_at, end, a["cpu_milli"],
                                  a["memory_mib"], a["gpu_milli"], p.org, p.team, p.queue, p.event_id)
    return out


def open_end(allocation: Allocation, closed_through: datetime | None) -> datetime:
    """Returns the end to bill: the real end, else (still running) the hour the ledger is closed through."""
    if allocation.end is not None:
        return allocation.end
    if closed_through is None or closed_through < allocation.start:
        return allocation.start
    return closed_through


def to_interval(allocation: Allocation, closed_through: datetime | None) -> UsageInterval:
    """Returns the libs/cost usage interval of ``allocation`` as billed now."""
    owner = Owner(allocation.org or "", allocation.team or "", allocation.queue or "")
    return UsageInterval(
        event_id=allocation.source_event, allocation_id=allocation.allocation_id, seq=0,
        workload=allocation.workload_id, owner=owner, node=allocation.node_id, start=allocation.start,
        end=open_end(allocation, closed_through),
        resources=Resources(cpu_millis=allocation.cpu_milli, memory_bytes=allocation.memory_mib,
                            gpus=allocation.gpu_milli))


def node_spec(row) -> NodeSpec:
    """Returns a NodeSpec in the same units as to_interval: millicores, MiB and milli-GPUs (units cancel)."""
    return NodeSpec(node=row["node_id"], cluster=row["cluster"], pool=row["pool"],
                    instance_type=row["instance_type"] or "", gpu_model=row["gpu_model"] or "",
                    capacity=Resources(cpu_millis=row["cpu_milli"], memory_bytes=row["memory_mib"],
                                       gpus=row["gpu"] * 1000))
