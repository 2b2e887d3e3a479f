"""The scheduler's in-memory state, as plain data: no I/O, clock passed in.

``Placer`` owns the placement core's ``Snapshot`` (every node, every bound pod), the repair state of each
node and the quota-reserved workloads still waiting. ``cycle()`` runs the core's one cycle
(``libs.placement.schedule``), applies its decisions to that state, and returns those worth recording; the
handlers turn them into rows and events (Armada-style: find, then do).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace

from libs.events import NodeInventoried, QuotaReserved, Tenant
from libs.placement import BoundPod, Decision, DecisionKind, PlacementPolicy, Snapshot, Waiting, Workload, schedule
from libs.placement.pod_mix import MIX_REFRESH, MixLearner, PodMix
from services.scheduler.adapters import node_spec_of, schedulability, workload_of


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
    def waiting(self) -> Waiting:
        return Waiting(self.workload, self.seq, self.victims)


__all__ = ["MIX_REFRESH", "Pending", "Placer"]


class Placer:
    """Snapshot + pending workloads + policy; every mutation is applied as decided (a failed transaction rebuilds)."""

    def __init__(self, snapshot: Snapshot, policy: PlacementPolicy, *, clock: Callable[[], float],
                 preemption: bool = True, min_runtime_s: float = 0.0) -> None:
        self.snapshot = snapshot
        self.learner = MixLearner(policy)  # the policy placement uses, its typical pods learned (pod_mix.py)
        self.clock = clock  # seconds; stamps pod start times and ages victims
        self.preemption = preemption  # node-level preemption on or off
        self.min_runtime_s = min_runtime_s  # a gang runs at least this long before it may be preempted
        self.repair: dict[str, str] = {}  # node -> repair state, kept even before the node is inventoried
        self.pending: dict[str, Pending] = {}
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

    def set_cluster_reachable(self, cluster: str, reachable: bool) -> bool:
        """Marks a cluster reachable or not (node repair's judgement): an unreachable cluster's nodes take no new
        pods; what runs there stays bound (it is not started twice). Returns whether that changed anything."""
        return self.snapshot.set_cluster_reachable(cluster, reachable)

    # -- the pod mix (FGD's typical pods, learned) ---------------------------------------------------
    @property
    def policy(self) -> PlacementPolicy:
        """The placement policy in force: the policy file's, with the learned typical pods once there are enough."""
        return self.learner.policy

    @property
    def mix(self) -> PodMix | None:
        return self.learner.mix

    def learn(self, workload: Workload) -> None:
        """Counts a workload the scheduler is asked to place into the learned pod mix (if the policy learns)."""
        self.learner.learn(workload, self.clock())

    def mix_to_save(self) -> dict | None:
        """Returns the learned mix's state every ``MIX_REFRESH`` workloads learned (the handler stores it in the
        transaction that learned the last of them, so a restart rebuilds the mix, less at most that many)."""
        return self.learner.state_to_save()

    def restore_mix(self, state: dict) -> None:
        """Takes back a stored mix (rebuild), with the policy's half-life."""
        self.learner.restore(state)

    # -- workloads --------------------------------------------------------------------------------
    def enqueue(self, pending: Pending) -> None:
        self.pending[pending.workload.id] = pending

    def bind(self, pods: Iterable[BoundPod]) -> None:
        """Binds the pods of a placement stored earlier (rebuild)."""
        for pod in pods:
            self.snapshot.bind(pod)

    def free(self, workload_id: str) -> bool:
        """Unbinds a finished or evicted workload; returns whether pods were freed.

        A pending reservation of a workload that was running is its requeue (quota may reserve again before
        the end of the old run reaches us): it stays. A workload that ends without pods leaves the queue.
        """
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
    def cycle(self, only: str | Collection[str] | None = None) -> list[tuple[Pending, Decision]]:
        """Runs the core's cycle over every pending workload (or just ``only``: one workload id, or several)
        and applies its decisions.

        Returns each decision worth recording with the reservation it is about: an unschedulable message
        is returned only when it changed since the last one emitted for that workload.
        """
        return self._run(self._chosen(only))[0]

    def place_arrivals(self, workload_ids: Collection[str]) -> list[tuple[Pending, Decision]]:
        """Runs one cycle over newly reserved workloads (a poll batch's), then a cycle of its own for each one
        that cycle skipped as shaped like a gang that had just failed in it.

        Handled one at a time, every reservation had a cycle of its own and so a word of its own (why it waits,
        whom it preempts); the second pass keeps that, not just for the first of each shape. A requeue whose old
        run is still bound is skipped either way.
        """
        recorded, skipped = self._run(self._chosen(workload_ids))
        for wid in skipped:
            if wid in self.pending and wid not in self.snapshot.workload_pods:
                recorded += self.cycle(wid)
        return recorded

    def _chosen(self, only: str | Collection[str] | None) -> list[Pending]:
        if only is None:
            return list(self.pending.values())
        ids = (only,) if isinstance(only, str) else dict.fromkeys(only)
        return [self.pending[wid] for wid in ids if wid in self.pending]

    def _run(self, chosen: list[Pending]) -> tuple[list[tuple[Pending, Decision]], tuple[str, ...]]:
        """Returns the decisions worth recording (applied) and the workloads the cycle skipped."""
        result = schedule(self.snapshot, (p.waiting for p in chosen), self.policy, self.clock(),
                          preempt=self.preemption, min_runtime=self.min_runtime_s)
        recorded = []
        for decision in result.decisions:
            pending = self.pending[decision.workload_id]
            if self._apply(pending, decision):
                recorded.append((pending, decision))
        return recorded, result.skipped

    def _apply(self, pending: Pending, d: Decision) -> bool:
        wid = d.workload_id
        if d.kind in (DecisionKind.PLACED, DecisionKind.NEVER_FITS):
            del self.pending[wid]
            if d.kind == DecisionKind.PLACED:
                self.owners[wid] = pending.reservation.tenant
                self.traces[wid] = pending.trace
            return True
        pending.victims = d.awaiting
        if d.message == pending.last_reason and d.kind == DecisionKind.UNSCHEDULABLE:
            return False
        pending.last_reason = d.message
        return True

    def nodes_of(self, workload_id: str) -> tuple[str, ...]:
        """Returns the nodes a bound workload's pods are on."""
        return tuple(sorted({self.snapshot.pods[p][1].node for p in self.snapshot.workload_pods.get(workload_id, ())}))


def pending_of(reservation: QuotaReserved, seq: int, trace: dict[str, str], last_reason: str | None = None,
               victims: Iterable[str] = ()) -> Pending:
    """Returns the pending record of a quota reservation."""
    return Pending(reservation, workload_of(reservation), seq, trace, last_reason, frozenset(victims))
