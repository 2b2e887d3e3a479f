"""One scheduling cycle over the quota-reserved workloads: the scheduler service, the replay and the
benchmarks all run this function, so a what-if replay shows what production would do.

``schedule`` reads the way Kueue's ``schedule()`` does, in numbered phases:

1. order: highest priority first, then arrival (``seq``);
2. skip what this cycle cannot change: a workload whose previous run is still bound (a requeue that
   overtook the end of its old run), and a gang shaped exactly like one that just failed (usage only
   grew since, so it would fail too: exact, not a heuristic);
3. say "no nodes" while nothing has been inventoried;
4. place: filter, score, gang and topology; a fit is committed to the snapshot;
5. not placed: hand back to quota a workload no node of its flavor could ever hold (``never-fits``), so
   quota tries its next flavor (asked only after a failed placement: a fit answers it for free);
6. wait while the gangs asked to leave for it are still bound (no second request);
7. preempt: find whole lower-priority gangs whose leaving lets it fit (nothing is evicted here: the
   caller asks them to leave);
8. otherwise say why it does not fit now.

Pure: no I/O and no clock of its own (``now`` stamps pod start times and ages victims). The snapshot is
the only thing it changes, and only by committing placements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from .feasibility import NEVER_FITS, never_fits
from .gang import as_policy
from .model import BoundPod, Victim, Workload
from .outcomes import PlacementResult, Reason
from .placer import place
from .preemption import PreemptionOutcome, find_preemption_targets
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot

NO_NODES = "NoNodes"  # reason code: nothing inventoried yet
PREEMPTING = "preempting"  # reason code: victims asked to leave (or still leaving)


class DecisionKind(str, Enum):
    """What the cycle decided for one pending workload."""

    PLACED = "placed"  # every pod (or an elastic gang's acceptable part) is bound
    NEVER_FITS = "never-fits"  # no node of the flavor could ever hold it: hand it back to quota
    UNSCHEDULABLE = "unschedulable"  # does not fit now; ``reason`` and ``message`` say why
    PREEMPTING = "preempting"  # lower-priority gangs must leave first: ``victims``


@dataclass(frozen=True)
class Waiting:
    """A quota-reserved workload waiting for nodes, as the cycle sees it."""

    workload: Workload
    seq: int  # arrival order (ties within a priority)
    victims: frozenset[str] = frozenset()  # gangs asked to leave for it that may still be bound


@dataclass(frozen=True)
class Decision:
    """What the cycle decided for one workload."""

    workload_id: str
    kind: DecisionKind
    reason: str = ""  # machine code: a ``Reason`` value, ``never-fits``, ``NoNodes`` or ``preempting``
    message: str = ""  # for people: e.g. "workers: 0/8 pods fit (need 8); 0/76 nodes: 52 outside ..."
    placement: PlacementResult | None = None  # PLACED (committed); otherwise the failed attempt, if any
    pods: tuple[BoundPod, ...] = ()  # PLACED: the pods bound (exact GPUs)
    victims: tuple[Victim, ...] = ()  # PREEMPTING: the gangs to ask to leave
    awaiting: frozenset[str] = frozenset()  # gangs still to leave for it: its next ``Waiting.victims``


@dataclass(frozen=True)
class CycleResult:
    """Every decision of one cycle, in the order taken, and what was skipped (phase 2)."""

    decisions: tuple[Decision, ...]
    skipped: tuple[str, ...] = ()  # workload ids not tried: still bound, or shaped like a gang that failed

    def of(self, kind: DecisionKind) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.kind == kind)


def schedule(snapshot: Snapshot, pending: Iterable[Waiting], policy: PlacementPolicy | Strategy, now: float, *,
             preempt: bool = True, min_runtime: float = 0.0) -> CycleResult:
    """Decide for every pending workload; placements are committed to ``snapshot``."""
    policy = as_policy(policy)
    cycle = _Cycle(snapshot, policy, now, preempt, min_runtime)
    for waiting in sorted(pending, key=lambda w: (-w.workload.priority, w.seq)):  # 1.
        cycle.decide(waiting)
    return CycleResult(tuple(cycle.decisions), tuple(cycle.skipped))


class _Cycle:
    """The state of one cycle: the shapes that failed, and whom a priority could preempt."""

    def __init__(self, snapshot: Snapshot, policy: PlacementPolicy, now: float, preempt: bool,
                 min_runtime: float) -> None:
        self.snapshot, self.policy, self.now = snapshot, policy, now
        self.preempt, self.min_runtime = preempt, min_runtime
        self.decisions: list[Decision] = []
        self.skipped: list[str] = []
        self.misfits: set[tuple] = set()
        self.lowest: int | None = None  # the lowest priority of a bound gang, once looked up (None: nothing bound)
        self.looked = False

    def decide(self, waiting: Waiting) -> None:
        workload, snap = waiting.workload, self.snapshot
        shape = shape_key(workload)
        if workload.id in snap.workload_pods or shape in self.misfits:  # 2.
            self.skipped.append(workload.id)
            return
        decision = self._decide(waiting)
        self.decisions.append(decision)
        if decision.kind in (DecisionKind.UNSCHEDULABLE, DecisionKind.PREEMPTING):
            self.misfits.add(shape)

    def _decide(self, waiting: Waiting) -> Decision:
        wid, workload, snap = waiting.workload.id, waiting.workload, self.snapshot
        if not snap.index:  # 3.
            return Decision(wid, DecisionKind.UNSCHEDULABLE, NO_NODES, "0/0 nodes: no node has been inventoried yet")
        result = place(snap, workload, self.policy, now=self.now)  # 4.
        if result.placed:
            self._placed(workload.priority)
            pods = tuple(snap.pods[a.pod_id][1] for a in result.assignments)
            return Decision(wid, DecisionKind.PLACED, placement=result, pods=pods)
        if (why := never_fits(snap, workload)) is not None:  # 5.
            return Decision(wid, DecisionKind.NEVER_FITS, NEVER_FITS, why, result)
        awaiting = frozenset(v for v in waiting.victims if v in snap.workload_pods)  # 6.
        if awaiting:
            return Decision(wid, DecisionKind.UNSCHEDULABLE, PREEMPTING,
                            f"waiting for {len(awaiting)} preempted workload(s) to leave: "
                            f"{', '.join(sorted(awaiting))}; {result.message}", result, awaiting=awaiting)
        if self.preempt and self._any_below(workload.priority):  # 7.
            plan = find_preemption_targets(snap, workload, self.policy, now=self.now, min_runtime=self.min_runtime)
            if plan.outcome == PreemptionOutcome.FOUND:
                names = [v.workload_id for v in plan.victims]
                return Decision(wid, DecisionKind.PREEMPTING, PREEMPTING,
                                f"preempting {len(names)} lower-priority workload(s): {', '.join(names)}; "
                                f"{result.message}", result, victims=plan.victims, awaiting=frozenset(names))
        return Decision(wid, DecisionKind.UNSCHEDULABLE, reason_code(result), result.message, result)  # 8.

    def _any_below(self, priority: int) -> bool:
        if not self.looked:  # walked once per cycle, and only when something did not fit
            self.lowest, self.looked = lowest_bound_priority(self.snapshot), True
        return self.lowest is not None and self.lowest < priority

    def _placed(self, priority: int) -> None:
        if self.looked and (self.lowest is None or priority < self.lowest):
            self.lowest = priority


def lowest_bound_priority(snapshot: Snapshot) -> int | None:
    """Return the lowest priority of any bound gang (None: nothing is bound): who could be preempted at all."""
    pods = snapshot.pods
    return min((pods[next(iter(ids))][1].priority for ids in snapshot.workload_pods.values() if ids), default=None)


def shape_key(workload: Workload) -> tuple:
    """Return what decides whether a gang fits: flavor and pod-set requests and constraints (not names)."""
    return (workload.clusters, workload.pools, tuple(
        (p.count, p.required_count, p.cpu_milli, p.memory_mib, p.gpu_count, p.gpu_milli, p.gpu_models,
         tuple(sorted(p.node_selector.items())), p.affinity, p.tolerations, p.topology) for p in workload.pod_sets))


def reason_code(result: PlacementResult) -> str:
    """Return the code of the first failing pod set: the most common rejection among the flavor's own nodes.

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
