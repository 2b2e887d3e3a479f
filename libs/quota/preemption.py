"""Phase 5, preempt: find the fewest admitted workloads whose eviction lets a workload fit.

Finding is separate from doing: this module names targets; the service issues evictions.
Classic preemption follows Kueue's four greedy heuristics then minimizes the target list;
fair-sharing preemption (``fair_preemption``) takes victims from the queue with the highest
weighted share while the configured strategy allows it.
"""

from __future__ import annotations

from typing import Mapping

from libs.quota.candidates import CandidateIndex, CandidateSource, Preemptor, Target, Trial
from libs.quota.config import PreemptionPolicy, QuotaConfig
from libs.quota.fair_preemption import fair_targets
from libs.quota.outcome import Reason
from libs.quota.tree import QuotaTree
from libs.quota.workload import Reservation


def _greedy(tree: QuotaTree, p: Preemptor, candidates: list[Reservation], allow_borrow: bool) -> list[Reservation]:
    node, trial = tree.queues[p.spec.name], Trial(tree)

    def fits() -> bool:
        return tree.fits(node, p.usage) and (allow_borrow or not tree.borrows(node, p.usage))

    for victim in candidates:
        other = victim.admission.cluster_queue != p.spec.name
        if other and not tree.borrows(tree.queues[victim.admission.cluster_queue]):
            continue  # earlier victims already brought that queue back under nominal
        trial.take(victim)
        if fits():
            chosen = trial.minimize(fits)
            trial.rollback()
            return chosen
    trial.rollback()
    return []


def classic_targets(tree: QuotaTree, p: Preemptor, candidates: list[Reservation]) -> list[Target]:
    """Returns targets by Kueue's classic heuristics (see docs/quota.md), or [] if none work."""
    node, mine = tree.queues[p.spec.name], p.spec.name
    same = [c for c in candidates if c.admission.cluster_queue == mine]
    borrow = p.spec.preemption.borrow_within_cohort
    chosen: list[Reservation] = []
    if candidates and len(same) == len(candidates):
        chosen = _greedy(tree, p, candidates, allow_borrow=True)
    elif borrow.policy is not PreemptionPolicy.NEVER:
        limit = borrow.max_priority_threshold
        allowed = [c for c in candidates if c.admission.cluster_queue == mine
                   or limit is None or c.workload.priority <= limit]
        chosen = _greedy(tree, p, allowed, allow_borrow=True)
    if not chosen and not tree.borrows(node, p.usage):
        chosen = _greedy(tree, p, candidates, allow_borrow=False)
    if not chosen:
        chosen = _greedy(tree, p, same, allow_borrow=True)
    borrowing = tree.borrows(node, p.usage)
    return [Target(c.workload.id, c.admission.cluster_queue, _reason(c, mine, borrowing)) for c in chosen]


def _reason(victim: Reservation, mine: str, borrowing: bool) -> Reason:
    if victim.admission.cluster_queue == mine:
        return Reason.PREEMPTED_IN_CLUSTER_QUEUE
    return Reason.PREEMPTED_WHILE_BORROWING if borrowing else Reason.PREEMPTED_RECLAIM


def _beyond_own_borrowing_limit(tree: QuotaTree, p: Preemptor, own: list[Reservation]) -> bool:
    """True when the preemptor exceeds its queue's ``nominal + borrowingLimit`` even with every
    own-queue candidate gone: a queue never holds more than that, whatever else is evicted."""
    node = tree.queues[p.spec.name]
    for fr in p.preempt_for:
        quota = node.quotas.get(fr)
        if quota is None or quota.borrowing_limit is None:
            continue
        freed = sum(r.admission.usage().get(fr, 0) for r in own)
        if node.usage.get(fr, 0) - freed + p.usage[fr] > node.subtree.get(fr, 0) + quota.borrowing_limit:
            return True
    return False


def find_preemption_targets(tree: QuotaTree, config: QuotaConfig, p: Preemptor,
                            admitted: Mapping[str, Mapping[str, Reservation]], now: float,
                            index: CandidateIndex | None = None) -> list[Target]:
    """Returns the victims that let ``p`` fit (classic or fair sharing), [] when none do."""
    source = CandidateSource(tree, p, admitted, now, config.timing.min_runtime_seconds,
                             config.fair_sharing, index)
    if _beyond_own_borrowing_limit(tree, p, source.of(p.spec.name)):
        return []  # no victim elsewhere can help; the search would only trial and give up
    if config.fair_sharing:
        return fair_targets(tree, p, source, config.fair_preemption_strategies)
    candidates = source.all()
    return classic_targets(tree, p, candidates) if candidates else []
