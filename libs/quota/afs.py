"""Admission fair sharing: how much each local queue has used lately (Kueue's KEP-4136).

Every ``usageSamplingInterval`` the consumed amount of each local queue decays towards what it
holds now: ``consumed = (1 - a)·consumed + a·current`` with ``a = 1 - 0.5^(elapsed / halfLife)``.
Each admission adds an *entry penalty* of ``a_sampling · requests`` at once, so a burst from one
local queue does not all go first before the next sample. A local queue's usage is the sum of
its consumed and penalty amounts, weighted per resource (``resourceWeights``, default 1) and
divided by its ``fairSharing.weight``. Amounts are in Kueue's units: CPU in cores, the rest in
base units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from libs.quota.config import AdmissionFairSharing, QuotaConfig
from libs.quota.quantity import MILLI_RESOURCES
from libs.quota.workload import Reservation

LocalQueueKey = tuple[str, str]  # (namespace, name)


def alpha(elapsed: float, half_life: float) -> float:
    """Returns the decay weight of the newest sample after ``elapsed`` seconds."""
    return 0.0 if half_life <= 0 else 1.0 - 0.5 ** (elapsed / half_life)


def amounts(usage: Mapping[tuple[str, str], int]) -> dict[str, float]:
    """Returns per-resource amounts of a (flavor, resource) usage in Kueue's units."""
    out: dict[str, float] = {}
    for (_, resource), amount in usage.items():
        out[resource] = out.get(resource, 0.0) + (amount / 1000 if resource in MILLI_RESOURCES else amount)
    return out


@dataclass(slots=True)
class AdmissionUsage:
    """Decayed usage history per local queue; pure (the clock is an argument)."""

    settings: AdmissionFairSharing
    consumed: dict[LocalQueueKey, dict[str, float]] = field(default_factory=dict)  # decayed history
    penalty: dict[LocalQueueKey, dict[str, float]] = field(default_factory=dict)  # since the last sample
    last_sample: float | None = None  # when consumed was last brought up to date

    def sample(self, now: float, reservations: Iterable[Reservation]) -> bool:
        """Decays every local queue towards what it holds now, once per sampling interval."""
        if self.last_sample is not None and now - self.last_sample < self.settings.sampling_seconds:
            return False
        elapsed = 0.0 if self.last_sample is None else now - self.last_sample
        a = alpha(elapsed, self.settings.half_life_seconds) if self.last_sample is not None else 1.0
        current: dict[LocalQueueKey, dict[str, float]] = {}
        for r in reservations:
            into = current.setdefault((r.workload.namespace, r.workload.queue_name), {})
            for resource, amount in amounts(r.admission.usage()).items():
                into[resource] = into.get(resource, 0.0) + amount
        for lq in set(self.consumed) | set(current):
            old, new = self.consumed.get(lq, {}), current.get(lq, {})
            self.consumed[lq] = {res: (1 - a) * old.get(res, 0.0) + a * new.get(res, 0.0)
                                 for res in set(old) | set(new)}
        self.penalty.clear()
        self.last_sample = now
        return True

    def penalize(self, lq: LocalQueueKey, usage: Mapping[tuple[str, str], int]) -> None:
        """Adds an admission's entry penalty to its local queue."""
        a = alpha(self.settings.sampling_seconds, self.settings.half_life_seconds)
        into = self.penalty.setdefault(lq, {})
        for resource, amount in amounts(usage).items():
            into[resource] = into.get(resource, 0.0) + a * amount

    def usage(self, lq: LocalQueueKey, config: QuotaConfig) -> float:
        """Returns the local queue's weighted usage (lower is admitted first)."""
        weights = self.settings.resource_weights
        total = 0.0
        for part in (self.consumed.get(lq, {}), self.penalty.get(lq, {})):
            for resource, amount in part.items():
                total += weights.get(resource, 1.0) * amount
        local = config.local_queues.get(lq)
        weight = local.fair_weight if local is not None else 1.0
        return total / weight if weight > 0 else float("inf")
