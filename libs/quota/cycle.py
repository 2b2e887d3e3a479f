"""One scheduling cycle: ``schedule(snapshot, pending, config, now) -> CycleResult``.

The phases, in order (Kueue's): 0 expire → 1 heads → 2 snapshot → 3 nominate →
4 assign flavors and 5 find preemption targets (per nominee, ``nominate``) → 6 admit, in
the order of ``ordering``. Every trial usage change in the cycle is undone before returning,
so the snapshot is unchanged and the result is plain data; the caller (``QuotaEngine.apply``
in a service) turns it into reservations and events.
"""

from __future__ import annotations

from typing import Mapping

from libs.quota.admit import admit
from libs.quota.candidates import SearchContext
from libs.quota.config import QuotaConfig
from libs.quota.nominate import Nominee, assign_and_target
from libs.quota.outcome import Reason, Why
from libs.quota.queues import PendingEntry, PendingQueue
from libs.quota.results import Admitted, CycleResult, Expired, Preempting, Snapshot, StillPending
from libs.quota.tree import QuotaTree, Undo

__all__ = ["Admitted", "CycleResult", "Expired", "Preempting", "Snapshot", "StillPending", "schedule"]


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


def release_expired(snapshot: Snapshot, expired: list[Expired]) -> tuple[Snapshot, list[Undo]]:
    """Phase 2: returns a view without the expired reservations, their quota freed for this cycle."""
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
    return Snapshot(snapshot.tree, admitted, snapshot.evicting, snapshot.lq_usage), undos


def nominate(heads: list[PendingEntry], tree: QuotaTree,
             config: QuotaConfig) -> tuple[list[Nominee], list[StillPending]]:
    """Phase 3: returns the heads whose queue may admit, and those held by stopPolicy."""
    nominees, held = [], []
    for entry in heads:
        spec = config.cluster_queues.get(entry.cluster_queue)
        if spec is None or spec.name not in tree.queues:
            why = Why(Reason.CLUSTER_QUEUE_NOT_FOUND, f"cluster queue {entry.cluster_queue} does not exist")
            held.append(StillPending(entry.workload.id, entry.cluster_queue, why, True))
        elif spec.hold:
            why = Why(Reason.CLUSTER_QUEUE_HELD, f"cluster queue {spec.name} is on hold (stopPolicy)")
            held.append(StillPending(entry.workload.id, spec.name, why, True))
        else:
            nominees.append(Nominee(entry, spec, tree.queues[spec.name]))
    return nominees, held


def schedule(snapshot: Snapshot, pending: Mapping[str, PendingQueue], config: QuotaConfig,
             now: float) -> CycleResult:
    """Runs one cycle and returns its decisions; ``snapshot`` is left unchanged."""
    expired = expire_reservations(snapshot, config, now)                # 0
    heads = select_heads(pending, now)                                   # 1
    view, undos = release_expired(snapshot, expired)                     # 2 (usage as of now)
    nominees, held = nominate(heads, view.tree, config)                  # 3
    ctx = SearchContext(view.tree, config, view.admitted, now, view.evicting, view.lq_usage)
    for n in nominees:
        assign_and_target(ctx, n)                                        # 4, 5
    admitted, preempting, waiting = admit(nominees, view, config)        # 6
    for undo in reversed(undos):
        undo()
    return CycleResult(tuple(admitted), tuple(preempting), tuple(held + waiting), tuple(expired))
