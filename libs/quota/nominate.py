"""Phases 4 and 5 for one nominee: assign flavors, find preemption targets, and when neither
the full workload fits nor victims exist, try fewer pods (Kueue's partial admission).

Partial admission follows Kueue's pod set reducer: every pod set with a ``min_count`` gives up
pods in proportion to its slack (``count - min_count``), and a binary search finds the
largest counts that fit (or fit by preempting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from libs.quota.candidates import Preemptor, SearchContext, Target
from libs.quota.config import ClusterQueueSpec
from libs.quota.flavors import FlavorAssignment, assign_flavors
from libs.quota.outcome import Mode
from libs.quota.preemption import find_preemption_targets, simulate
from libs.quota.queues import PendingEntry
from libs.quota.tree import QuotaNode


@dataclass(slots=True)
class Nominee:
    """A head under consideration in this cycle."""

    entry: PendingEntry
    spec: ClusterQueueSpec
    queue: QuotaNode  # its cluster queue in the tree
    assignment: FlavorAssignment | None = None
    targets: list[Target] = field(default_factory=list)

    @property
    def usage(self) -> dict:
        return self.assignment.usage if self.assignment is not None else {}

    @property
    def borrowing(self) -> int:
        return self.assignment.borrowing if self.assignment is not None else 0

    @property
    def order(self) -> tuple:
        return self.entry.key()


def _attempt(ctx: SearchContext, n: Nominee, counts: Sequence[int] | None) -> tuple[FlavorAssignment, list[Target]]:
    """Returns the assignment at ``counts`` pods and, when it needs preemption, its targets."""
    wl = n.entry.workload
    probe = Preemptor(wl, n.spec, {}, frozenset())
    assignment = assign_flavors(ctx.tree, n.spec, wl, ctx.config,
                                lambda fr, amount: simulate(ctx, probe, fr, amount), counts)
    if assignment.mode is not Mode.PREEMPT:
        return assignment, []
    p = Preemptor(wl, n.spec, assignment.usage, frozenset(assignment.preempt_for))
    return assignment, find_preemption_targets(ctx, p)


def _usable(assignment: FlavorAssignment, targets: list[Target]) -> bool:
    return assignment.mode is Mode.FIT or (assignment.mode is Mode.PREEMPT and bool(targets))


def _reduced(ctx: SearchContext, n: Nominee) -> tuple[FlavorAssignment, list[Target]] | None:
    """Returns the largest partial admission that fits or fits by preempting, if any."""
    pod_sets = n.entry.workload.pod_sets
    full = [ps.count for ps in pod_sets]
    slack = [ps.count - (ps.min_count if ps.min_count is not None else ps.count) for ps in pod_sets]
    total = sum(slack)
    if total == 0:
        return None

    def counts_at(step: int) -> list[int]:
        return [c - d * step // total for c, d in zip(full, slack)]

    lo, hi, found = 1, total, None
    while lo <= hi:  # smallest step (largest counts) that works; steps work monotonically
        mid = (lo + hi) // 2
        attempt = _attempt(ctx, n, counts_at(mid))
        if _usable(*attempt):
            found, hi = attempt, mid - 1
        else:
            lo = mid + 1
    return found


def assign_and_target(ctx: SearchContext, n: Nominee) -> None:
    """Fills the nominee's assignment and targets (full size first, then partial admission)."""
    assignment, targets = _attempt(ctx, n, None)
    if not _usable(assignment, targets):
        reduced = _reduced(ctx, n)
        if reduced is not None:
            assignment, targets = reduced
    n.assignment, n.targets = assignment, targets
