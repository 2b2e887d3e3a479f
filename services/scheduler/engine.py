"""The scheduler's in-memory state and its placement cycle, as plain data: no I/O, clock passed in.

``Placer`` owns the placement core's ``Snapshot`` (every node, every bound pod), the repair state of each
node and the quota-reserved workloads still waiting. ``cycle()`` returns one ``Decision`` per workload it
decided something for; the handlers turn decisions into rows and events (Armada-style: find, then do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from libs.events import NodeInventoried, QuotaReserved, Tenant
from libs.placement import (
    BoundPod,
    PlacementPolicy,
    PlacementResult,
    PreemptionOutcome,
    Reason,
    Snapshot,
    Victim,
    Workload,
    find_preemption_targets,
    place,
)
from services.scheduler.adapters import node_spec_of, schedulability, workload_of
from services.scheduler.feasibility import NEVER_FITS, never_fits


class DecisionKind(str, Enum):
    """What the cycle decided for one pending workload."""

    PLACED = "placed"  # every pod (or an elastic gang's acceptable part) is bound: emit WorkloadPlaced
    NEVER_FITS = "never-fits"  # no node of the flavor could ever hold it: hand it back to quota
    UNSCHEDULABLE = "unschedulable"  # does not fit now: say why (once per distinct reason)
    PREEMPTING = "preempting"  # lower-priority gangs must leave first: emit PreemptionRequested for each


@dataclass(frozen=True)
class Decision:
    workload_id: str
    kind: DecisionKind
    source: "Pending"  # the reservation decided on (gone from ``Placer.pending`` once placed or handed back)
    reason: str = ""  # machine code: the core's Reason value, "never-fits" or "preempting"
    message: str = ""  # for people: e.g. "workers: 0/8 pods fit (need 8); 0/76 nodes: 52 outside ..."
    placement: PlacementResult | None = None
    pods: tuple[BoundPod, ...] = ()  # the pods a placement bound (exact GPUs), to store
    victims: tuple[Victim, ...] = ()


@dataclass
class Pending:
    """A quota-reserved workload waiting for nodes."""

    reservation: QuotaReserved  # as quota sent it
    workload: Workload  # the core's view of it
    seq: int  # arrival order
    trace: dict[str, str] = field(default_factory=dict)  # W3C context of the workload's trace
    last_reason: str | None = None  # the last unschedulable message emitted (emit only on change)
    victims: frozenset[str] = frozenset()  # gangs asked to leave for it and not yet gone

    @property
    def order(self) -> tuple[int, int]:
        return (-self.workload.priority, self.seq)


class Placer:
    """Snapshot + pending workloads + policy; every mutation is applied as decided (a failed transaction rebuilds)."""

    def __init__(self, snapshot: Snapshot, policy: PlacementPolicy, *, clock: Callable[[], float],
                 preemption: bool = True, min_runtime_s: float = 0.0) -> None:
        self.snapshot = snapshot
        self.policy = policy
        self.clock = clock  # seconds; stamps pod start times and ages victims
        self.preemption = preemption  # node-level preemption on or off
        self.min_runtime_s = min_runtime_s  # a gang runs at least this long before it may be preempted
        self.repair: dict[str, str] = {}  # node -> repair state, kept even before the node is inventoried
        self.pending: dict[str, Pending] = {}
        self.priorities: dict[str, int] = {}  # bound workload -> priority (cheap "anyone to preempt?" test)
        self.owners: dict[str, Tenant | None] = {}  # bound workload -> its tenant (stamped on preemptions)
        self.traces: dict[str, dict[str, str]] = {}  # bound workload -> its trace context (preemptions join it)

    # -- nodes ------------------------------------------------------------------------------------
    def apply_inventory(self, event: NodeInventoried) -> bool:
        """Adds, updates or removes a node; returns whether anything changed."""
        known = event.node_id in self.snapshot.index
        if event.removed:
            if known:
                self.snapshot.remove_node(event.node_id)
            return known
        spec = node_spec_of(event, self.repair.get(event.node_id))
        if known and self.snapshot.node_spec(event.node_id) == spec:
            return False
        (self.snapshot.update_node if known else self.snapshot.add_node)(spec)
        return True

    def set_repair_state(self, node_id: str, state: str) -> None:
        """Records a node-repair state and applies it to the node's schedulability."""
        self.repair[node_id] = state
        if node_id in self.snapshot.index:
            current = self.snapshot.node_spec(node_id)
            healthy, cordoned = schedulability(state)
            if (current.healthy, current.cordoned) != (healthy, cordoned):
                self.snapshot.update_node(replace(current, healthy=healthy, cordoned=cordoned))

    # -- workloads --------------------------------------------------------------------------------
    def enqueue(self, pending: Pending) -> None:
        self.pending[pending.workload.id] = pending

    def bind(self, pods: Iterable[BoundPod]) -> None:
        """Binds the pods of a placement stored earlier (rebuild)."""
        for pod in pods:
            self.snapshot.bind(pod)
            self.priorities[pod.workload_id] = pod.priority

    def free(self, workload_id: str) -> bool:
        """Unbinds a finished or evicted workload; returns whether pods were freed.

        A pending reservation of a workload that was running is its requeue (quota may reserve again before
        the end of the old run reaches us): it stays. A workload that ends without pods leaves the queue.
        """
        self.priorities.pop(workload_id, None)
        self.owners.pop(workload_id, None)
        self.traces.pop(workload_id, None)
        freed = bool(self.snapshot.unbind_workload(workload_id))
        if not freed:
            self.pending.pop(workload_id, None)
        return freed

    def forget(self, workload_id: str) -> tuple[bool, bool]:
        """Drops a cancelled workload's pending reservation; returns (it was pending, it is bound to nodes).

        Its bound pods stay until the connector reports them stopped (as after an eviction), so their nodes are
        never handed out while the pods still run.
        """
        return self.pending.pop(workload_id, None) is not None, workload_id in self.snapshot.workload_pods

    def reprioritise(self, workload_id: str, priority: int) -> tuple[bool, bool]:
        """Gives a workload a new priority; returns (it is pending here, it is bound to nodes).

        A pending reservation is ordered and preempts with it; a bound gang's pods are bound again with it, so
        node-level preemption weighs it as it is now (the nodes and GPUs stay the same).
        """
        pending = self.pending.get(workload_id)
        if pending is not None:
            pending.reservation = pending.reservation.model_copy(update={"priority": priority})
            pending.workload = replace(pending.workload, priority=priority)
        bound = workload_id in self.snapshot.workload_pods
        if bound:
            pods = self.snapshot.unbind_workload(workload_id)
            self.bind(replace(pod, priority=priority) for pod in pods)
        return pending is not None, bound

    # -- the cycle ------------------------------------------------------------------------------
    def cycle(self, only: str | None = None) -> list[Decision]:
        """Decides for every pending workload (or just ``only``): highest priority first, then arrival."""
        now = self.clock()
        chosen = [self.pending[only]] if only in self.pending else [] if only else \
            sorted(self.pending.values(), key=lambda p: p.order)
        decisions, misfits = [], set()
        for pending in chosen:
            if pending.workload.id in self.snapshot.workload_pods:
                continue  # requeued before its previous run's end reached us: wait for that
            shape = shape_key(pending.workload)
            if shape in misfits:  # an identical gang did not fit and usage only grew since: skip (exact)
                continue
            decision = self._decide(pending, now)
            if decision is not None:
                decisions.append(decision)
            if pending.workload.id in self.pending:
                misfits.add(shape)
        return decisions

    def _decide(self, pending: Pending, now: float) -> Decision | None:
        wid, workload = pending.workload.id, pending.workload
        # 1. a flavor whose nodes can never hold a pod goes back to quota
        if (why := never_fits(self.snapshot, workload)) is not None:
            del self.pending[wid]
            return Decision(wid, DecisionKind.NEVER_FITS, pending, NEVER_FITS, why)
        if not self.snapshot.index:  # the core needs at least one node to score
            return self._unschedulable(pending, "NoNodes", "0/0 nodes: no node has been inventoried yet")
        # 2. filter, score, gang and topology: committed to the snapshot when it fits
        result = place(self.snapshot, workload, self.policy, now=now)
        if result.placed:
            del self.pending[wid]
            self.priorities[wid] = workload.priority
            self.owners[wid] = pending.reservation.tenant
            self.traces[wid] = pending.trace
            pods = tuple(self.snapshot.pods[a.pod_id][1] for a in result.assignments)
            return Decision(wid, DecisionKind.PLACED, pending, placement=result, pods=pods)
        reason = reason_code(result)
        # 3. node-level preemption of whole lower-priority gangs
        waiting = [v for v in pending.victims if v in self.snapshot.workload_pods]
        if waiting:
            return self._unschedulable(pending, "preempting", f"waiting for {len(waiting)} preempted "
                                       f"workload(s) to leave: {', '.join(sorted(waiting))}; {result.message}")
        if self.preemption and self._has_lower_priority(workload.priority):
            plan = find_preemption_targets(self.snapshot, workload, self.policy, now=now,
                                           min_runtime=self.min_runtime_s)
            if plan.outcome == PreemptionOutcome.FOUND:
                pending.victims = frozenset(v.workload_id for v in plan.victims)
                message = (f"preempting {len(plan.victims)} lower-priority workload(s): "
                           f"{', '.join(v.workload_id for v in plan.victims)}; {result.message}")
                pending.last_reason = message
                return Decision(wid, DecisionKind.PREEMPTING, pending, "preempting", message, victims=plan.victims)
        pending.victims = frozenset()
        return self._unschedulable(pending, reason, result.message)

    def _unschedulable(self, pending: Pending, reason: str, message: str) -> Decision | None:
        if message == pending.last_reason:
            return None
        pending.last_reason = message
        return Decision(pending.workload.id, DecisionKind.UNSCHEDULABLE, pending, reason, message)

    def _has_lower_priority(self, priority: int) -> bool:
        return any(p < priority for p in self.priorities.values())

    def nodes_of(self, workload_id: str) -> tuple[str, ...]:
        """Returns the nodes a bound workload's pods are on."""
        return tuple(sorted({self.snapshot.pods[p][1].node for p in self.snapshot.workload_pods.get(workload_id, ())}))


def shape_key(workload: Workload) -> tuple:
    """Returns what decides whether a gang fits: flavor and pod-set requests and constraints (not names)."""
    return (workload.clusters, workload.pools, tuple(
        (p.count, p.required_count, p.cpu_milli, p.memory_mib, p.gpu_count, p.gpu_milli, p.gpu_models,
         tuple(sorted(p.node_selector.items())), p.affinity, p.tolerations, p.topology) for p in workload.pod_sets))


def reason_code(result: PlacementResult) -> str:
    """Returns the code of the first failing pod set: the most common rejection among the flavor's own nodes.

    Nodes outside the flavor are not why a workload waits, so ``ClusterMismatch`` wins only when alone.
    """
    if not result.failures:
        return "Unschedulable"
    failure = result.failures[0]
    counts = [(n, r) for r, n in (failure.diagnosis.counts if failure.diagnosis else ())
              if n and r != Reason.CLUSTER_MISMATCH]
    if failure.reason in (Reason.GANG_INCOMPLETE, Reason.TOPOLOGY_NO_DOMAIN) or not counts:
        return failure.reason.value
    return max(counts, key=lambda c: c[0])[1].value


def pending_of(reservation: QuotaReserved, seq: int, trace: dict[str, str], last_reason: str | None = None,
               victims: Iterable[str] = ()) -> Pending:
    """Returns the pending record of a quota reservation."""
    return Pending(reservation, workload_of(reservation), seq, trace, last_reason, frozenset(victims))
