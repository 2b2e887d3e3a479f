"""One scheduling cycle: ``schedule(snapshot, pending, config, now) -> CycleResult``.

The phases, in order (Kueue's): 0 expire → 1 heads → 2 snapshot → 3 nominate →
4 assign_flavors → 5 preempt → 6 admit. Every trial usage change in the cycle is undone
before returning, so the snapshot is unchanged and the result is plain data; the caller
(``QuotaEngine.apply`` in a service) turns it into reservations and events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from libs.quota.config import ClusterQueueSpec, QuotaConfig
from libs.quota.flavors import FlavorAssignment, assign_flavors
from libs.quota.outcome import Mode, Reason, Why
from libs.quota.preemption import CandidateIndex, Preemptor, Target, find_preemption_targets
from libs.quota.queues import PendingEntry, PendingQueue
from libs.quota.tree import QuotaTree, Undo
from libs.quota.workload import Admission, Reservation


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The quota state a cycle reads: the tree with usage, reservations, evictions under way."""

    tree: QuotaTree
    admitted: Mapping[str, Mapping[str, Reservation]]  # cluster queue → workload id → reservation
    evicting: frozenset[str] = frozenset()  # victims already asked to leave


@dataclass(frozen=True, slots=True)
class Admitted:
    """A quota reservation to make: the workload, its queue and flavor assignment."""

    workload_id: str
    cluster_queue: str
    admission: Admission
    borrowing: bool


@dataclass(frozen=True, slots=True)
class Preempting:
    """A workload that will fit once ``targets`` are evicted."""

    workload_id: str
    cluster_queue: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class StillPending:
    """A head that was not admitted this cycle, and why."""

    workload_id: str
    cluster_queue: str
    why: Why
    step_aside: bool  # BestEffortFIFO: park it as inadmissible until quota frees


@dataclass(frozen=True, slots=True)
class Expired:
    """A reservation whose pods were not ready in time (waitForPodsReady): release and requeue."""

    workload_id: str
    cluster_queue: str
    why: Why


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Everything one cycle decided, as plain data."""

    admitted: tuple[Admitted, ...] = ()
    preempting: tuple[Preempting, ...] = ()
    pending: tuple[StillPending, ...] = ()
    expired: tuple[Expired, ...] = ()

    @property
    def decisions(self) -> int:
        """Returns how many heads got a decision (admitted, or waiting with a reason).

        A preemptor appears in ``preempting`` and, waiting for its victims, in ``pending``;
        it counts once.
        """
        return len(self.admitted) + len(self.pending)


@dataclass(slots=True)
class Nominee:
    """A head under consideration in this cycle."""

    entry: PendingEntry
    spec: ClusterQueueSpec
    assignment: FlavorAssignment | None = None
    targets: list[Target] = field(default_factory=list)


# -- phases ------------------------------------------------------------------------------------

def expire_reservations(snapshot: Snapshot, config: QuotaConfig, now: float) -> list[Expired]:
    """Phase 0: returns reservations not placed within ``pods_ready_timeout_seconds``."""
    timeout = config.timing.pods_ready_timeout_seconds
    if timeout is None:
        return []
    return [Expired(r.workload.id, cq, Why(Reason.PODS_READY_TIMEOUT,
                    f"pods not ready within {timeout:g}s of quota reservation; quota released"))
            for cq, by_id in sorted(snapshot.admitted.items()) for r in by_id.values()
            if not r.placed and now - r.reserved_at >= timeout]


def select_heads(pending: Mapping[str, PendingQueue], now: float) -> list[PendingEntry]:
    """Phase 1: returns the first eligible workload of every cluster queue."""
    heads = (queue.head(now) for _, queue in sorted(pending.items()))
    return [h for h in heads if h is not None]


def nominate(heads: list[PendingEntry], config: QuotaConfig) -> tuple[list[Nominee], list[StillPending]]:
    """Phase 3: returns the heads whose queue may admit, and those held by stopPolicy."""
    nominees, held = [], []
    for entry in heads:
        spec = config.cluster_queues.get(entry.cluster_queue)
        if spec is None:
            why = Why(Reason.CLUSTER_QUEUE_NOT_FOUND, f"cluster queue {entry.cluster_queue} does not exist")
            held.append(StillPending(entry.workload.id, entry.cluster_queue, why, True))
        elif spec.hold:
            why = Why(Reason.CLUSTER_QUEUE_HELD, f"cluster queue {spec.name} is on hold (stopPolicy)")
            held.append(StillPending(entry.workload.id, spec.name, why, True))
        else:
            nominees.append(Nominee(entry, spec))
    return nominees, held


def assign_all_flavors(nominees: list[Nominee], tree: QuotaTree) -> None:
    """Phase 4: fills each nominee's flavor assignment against the snapshot."""
    for nominee in nominees:
        nominee.assignment = assign_flavors(tree, nominee.spec, nominee.entry.workload)


def preempt(nominees: list[Nominee], snapshot: Snapshot, config: QuotaConfig, now: float) -> None:
    """Phase 5: fills preemption targets for nominees that fit only by preempting."""
    index = CandidateIndex(snapshot.tree)  # the snapshot does not change during this phase
    for n in nominees:
        a = n.assignment
        if a is not None and a.mode is Mode.PREEMPT:
            p = Preemptor(n.entry.workload, n.spec, a.usage, frozenset(a.preempt_for))
            n.targets = find_preemption_targets(snapshot.tree, config, p, snapshot.admitted, now, index)


def order_nominees(nominees: list[Nominee], tree: QuotaTree, config: QuotaConfig) -> list[Nominee]:
    """Returns nominees in admission order: fair share (or not borrowing) first, then priority, age."""
    def key(n: Nominee):
        wl, a = n.entry.workload, n.assignment
        usage = a.usage if a else {}
        if config.fair_sharing:
            path = tree.queues[n.spec.name].path()[:-1]  # every node below the root
            first = tuple(tree.share(node, usage) for node in reversed(path))
        else:
            first = (bool(a and a.borrowing),)
        return (first, -wl.priority, wl.created_at, wl.id)
    return sorted(nominees, key=key)


def admit(ordered: list[Nominee], snapshot: Snapshot, config: QuotaConfig) -> tuple[list, list, list]:
    """Phase 6: returns admissions, preemptions and still-pending, reserving usage as it goes."""
    admitted, preempting, pending = [], [], []
    undos: list[Undo] = []
    claimed: set[str] = set()  # victims already named in this cycle
    for n in ordered:
        wl, a, node = n.entry.workload, n.assignment, snapshot.tree.queues[n.spec.name]
        if a is None or a.mode is Mode.NO_FIT:
            pending.append(StillPending(wl.id, n.spec.name, a.why if a else _no_fit(), True))
        elif a.mode is Mode.FIT and snapshot.tree.fits(node, a.usage):
            undos.append(snapshot.tree.add_usage(node, a.usage))
            admitted.append(Admitted(wl.id, n.spec.name, a.admission(config, n.spec.name), a.borrowing))
        elif a.mode is Mode.FIT:
            why = Why(Reason.SKIPPED_IN_CYCLE, "quota taken by a workload admitted earlier in this cycle")
            pending.append(StillPending(wl.id, n.spec.name, why, False))
        else:
            pending_or_preempt(n, a, snapshot, claimed, preempting, pending)
    for undo in reversed(undos):
        undo()
    return admitted, preempting, pending


def pending_or_preempt(n: Nominee, a: FlavorAssignment, snapshot: Snapshot, claimed: set[str],
                       preempting: list, pending: list) -> None:
    """Records a preemption (new targets only) or why the preemptor must keep waiting."""
    wl, name = n.entry.workload, n.spec.name
    ids = {t.workload_id for t in n.targets}
    if not n.targets:
        pending.append(StillPending(wl.id, name, a.why or _no_fit(), True))
    elif ids & claimed:
        why = Why(Reason.SKIPPED_IN_CYCLE, "its preemption targets were claimed earlier in this cycle")
        pending.append(StillPending(wl.id, name, why, False))
    else:
        claimed |= ids
        fresh = tuple(t for t in n.targets if t.workload_id not in snapshot.evicting)
        if fresh:
            preempting.append(Preempting(wl.id, name, fresh))
        why = Why(Reason.WAITING_FOR_PREEMPTION,
                  f"waiting for {len(ids)} preempted workload(s) to release quota; " + (a.why.message if a.why else ""))
        pending.append(StillPending(wl.id, name, why, False))


def _no_fit() -> Why:
    return Why(Reason.NO_FIT, "no flavor fits")


def release_expired(snapshot: Snapshot, expired: list[Expired]) -> tuple[Snapshot, list[Undo]]:
    """Returns a view without the expired reservations, their quota freed for this cycle (undo kept)."""
    if not expired:
        return snapshot, []
    gone = {e.workload_id for e in expired}
    admitted = dict(snapshot.admitted)
    undos = []
    for cq in {e.cluster_queue for e in expired}:
        kept = {wid: r for wid, r in admitted[cq].items() if wid not in gone}
        for wid in admitted[cq].keys() - kept.keys():
            if cq in snapshot.tree.queues:
                undos.append(snapshot.tree.remove_usage(snapshot.tree.queues[cq], admitted[cq][wid].admission.usage()))
        admitted[cq] = kept
    return Snapshot(snapshot.tree, admitted, snapshot.evicting), undos


def schedule(snapshot: Snapshot, pending: Mapping[str, PendingQueue], config: QuotaConfig,
             now: float) -> CycleResult:
    """Runs one cycle and returns its decisions; ``snapshot`` is left unchanged."""
    expired = expire_reservations(snapshot, config, now)                # 0
    heads = select_heads(pending, now)                                   # 1
    view, undos = release_expired(snapshot, expired)                     # 2 (usage as of now)
    nominees, held = nominate(heads, config)                             # 3
    assign_all_flavors(nominees, view.tree)                              # 4
    preempt(nominees, view, config, now)                                 # 5
    admitted, preempting, waiting = admit(order_nominees(nominees, view.tree, config), view, config)  # 6
    for undo in reversed(undos):
        undo()
    return CycleResult(tuple(admitted), tuple(preempting), tuple(held + waiting), tuple(expired))
