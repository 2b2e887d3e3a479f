"""Phase 6, admit: walk the nominees in admission order and decide, reserving as Kueue does.

Usage is added to the cycle's tree for every admission, for every preemptor (its victims are
still there, so nobody else takes the quota it is freeing), and, for a head that needs
preemption but found no victim, up to what its queue is owed: Kueue holds that capacity so a
lower-priority workload elsewhere cannot take it, unless the queue can always reclaim
(``reclaimWithinCohort: Any``). Everything is undone before the cycle returns.
"""

from __future__ import annotations

from libs.quota.config import PreemptionPolicy, QuotaConfig
from libs.quota.nominate import Nominee
from libs.quota.ordering import FairOrder, classic_order
from libs.quota.outcome import Mode, Reason, Why
from libs.quota.results import Admitted, Preempting, Snapshot, StillPending
from libs.quota.tree import QuotaTree, Undo
from libs.quota.trial import WithoutVictims


def held_capacity(tree: QuotaTree, n: Nominee) -> dict:
    """Returns the quota a blocked head holds (Kueue's resourcesToReserve)."""
    node, out = n.queue, {}
    for fr, amount in n.usage.items():
        quota = node.quotas.get(fr)
        nominal = quota.nominal if quota is not None else 0
        used = node.usage.get(fr, 0)
        if n.borrowing > 0:
            limit = None if quota is None else quota.borrowing_limit
            out[fr] = amount if limit is None else min(amount, nominal + limit - used)
        else:
            out[fr] = min(amount, nominal - used)
        out[fr] = max(0, out[fr])
    return {fr: v for fr, v in out.items() if v > 0}


class _Admission:
    """The admit loop's state: decisions so far, victims claimed, trial usage to undo."""

    def __init__(self, snapshot: Snapshot, config: QuotaConfig):
        self.snapshot, self.config = snapshot, config
        self.admitted: list[Admitted] = []
        self.preempting: list[Preempting] = []
        self.pending: list[StillPending] = []
        self.claimed = WithoutVictims(snapshot.tree, self._victim_usage)  # victims named earlier in this cycle
        self.undos: list[Undo] = []

    def _victim_usage(self, workload_id: str, queue: str) -> dict:
        return self.snapshot.admitted[queue][workload_id].admission.usage()

    def reserve(self, n: Nominee, usage: dict) -> bool:
        if not usage:
            return False
        self.undos.append(self.snapshot.tree.add_usage(n.queue, usage))
        self.claimed.reserve(n.queue, usage)
        return True

    def decide(self, n: Nominee) -> bool:
        """Decides one nominee; returns True when it changed usage in the tree."""
        wl, a, name = n.entry.workload, n.assignment, n.spec.name
        if a is None or a.mode is Mode.NO_FIT:
            self.pending.append(StillPending(wl.id, name, a.why if a and a.why else _no_fit(), True))
            return False
        if a.mode is Mode.PREEMPT and not n.targets:
            self.pending.append(StillPending(wl.id, name, a.why or _no_fit(), True))
            if n.spec.preemption.reclaim_within_cohort is PreemptionPolicy.ANY:
                return False
            return self.reserve(n, held_capacity(self.snapshot.tree, n))
        ids = {t.workload_id: t.cluster_queue for t in n.targets}
        if ids.keys() & self.claimed.claimed.keys():
            self.skip(n, "its preemption targets were claimed earlier in this cycle")
            return False
        if not self.claimed.fits(n.queue, n.usage, ids):
            self.skip(n, "quota taken by a workload admitted earlier in this cycle")
            return False
        self.claimed.claim(ids)
        self.reserve(n, a.usage)
        if a.mode is Mode.FIT:
            self.admitted.append(Admitted(wl.id, name, a.admission(self.config, name), a.borrowing > 0))
        else:
            self.preempt(n, ids)
        return True

    def skip(self, n: Nominee, message: str) -> None:
        why = Why(Reason.SKIPPED_IN_CYCLE, message)
        self.pending.append(StillPending(n.entry.workload.id, n.spec.name, why, False))

    def preempt(self, n: Nominee, ids: dict[str, str]) -> None:
        wl, a, name = n.entry.workload, n.assignment, n.spec.name
        fresh = tuple(t for t in n.targets if t.workload_id not in self.snapshot.evicting)
        if fresh:
            self.preempting.append(Preempting(wl.id, name, fresh))
        why = Why(Reason.WAITING_FOR_PREEMPTION,
                  f"waiting for {len(ids)} preempted workload(s) to release quota; " + (a.why.message if a.why else ""))
        self.pending.append(StillPending(wl.id, name, why, False))


def _no_fit() -> Why:
    return Why(Reason.NO_FIT, "no flavor fits")


def admit(nominees: list[Nominee], snapshot: Snapshot, config: QuotaConfig) -> tuple[list, list, list]:
    """Phase 6: returns admissions, preemptions and still-pending, in admission order."""
    state = _Admission(snapshot, config)
    if config.fair_sharing:
        order = FairOrder(snapshot.tree, nominees)
        n = order.pop()
        while n is not None:
            if state.decide(n):
                order.changed(n.queue)
            n = order.pop()
    else:
        for n in classic_order(nominees):
            state.decide(n)
    for undo in reversed(state.undos):
        undo()
    return state.admitted, state.preempting, state.pending
