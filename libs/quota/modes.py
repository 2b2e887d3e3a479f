"""How well one flavor fits, finer than ``Mode``, and Kueue's rules for comparing two flavors.

A flavor's fit is a ``(Granular, borrowing level)`` pair. The borrowing level is the height
of the lowest cohort subtree that can hold the request (0: the cluster queue's own quota),
so a workload that borrows from a closer cohort borrows "less".
"""

from __future__ import annotations

from enum import IntEnum

from libs.quota.config import FlavorFungibility, FungibilityPreference, WhenCanBorrow, WhenCanPreempt
from libs.quota.outcome import Mode


class Granular(IntEnum):
    """Kueue's internal preemption modes, worst first."""

    NO_FIT = 0
    NO_CANDIDATES = 1  # quota would allow preemption, but no victim exists
    PREEMPT = 2  # victims include workloads of the preemptor's own queue
    RECLAIM = 3  # every victim is in another queue (quota lent to the cohort comes back)
    FIT = 4

    def public(self) -> Mode:
        """Returns the mode shown outside the flavor assigner (NoFit < Preempt < Fit)."""
        if self is Granular.NO_FIT:
            return Mode.NO_FIT
        return Mode.FIT if self is Granular.FIT else Mode.PREEMPT


FlavorFit = tuple[Granular, int]  # (mode, borrowing level)
WORST: FlavorFit = (Granular.NO_FIT, 1 << 30)
BEST: FlavorFit = (Granular.FIT, 0)


def is_preferred(a: FlavorFit, b: FlavorFit, fungibility: FlavorFungibility) -> bool:
    """True when ``a`` is a better flavor than ``b`` under the queue's preference."""
    if a[0] is Granular.NO_FIT:
        return False
    if b[0] is Granular.NO_FIT:
        return True
    a_none, b_none = a[0] is Granular.NO_CANDIDATES, b[0] is Granular.NO_CANDIDATES
    if a_none != b_none:
        return not a_none  # a flavor with no victim cannot admit this cycle
    if fungibility.preference is FungibilityPreference.PREEMPTION_OVER_BORROWING:
        return a[1] < b[1] if a[1] != b[1] else a[0] > b[0]
    return a[0] > b[0] if a[0] != b[0] else a[1] < b[1]


def worse(a: FlavorFit, b: FlavorFit, fungibility: FlavorFungibility) -> FlavorFit:
    """Returns the worse of two fits (a group fits as well as its worst resource)."""
    return b if is_preferred(a, b, fungibility) else a


def should_try_next(fit: FlavorFit, fungibility: FlavorFungibility) -> bool:
    """True when the search goes on to the next flavor after this one (Kueue's flavorFungibility)."""
    mode, level = fit
    if mode in (Granular.NO_FIT, Granular.NO_CANDIDATES):
        return True
    if mode in (Granular.PREEMPT, Granular.RECLAIM) and \
            fungibility.when_can_preempt is WhenCanPreempt.TRY_NEXT_FLAVOR:
        return True
    return level > 0 and fungibility.when_can_borrow is WhenCanBorrow.TRY_NEXT_FLAVOR
