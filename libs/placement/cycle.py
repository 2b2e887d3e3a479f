"""One placement cycle over the quota-reserved workloads, as plain data.

1. place each workload in the given order (the quota service's order), committing fits;
2. for a workload that does not fit, optionally find node-level preemption victims (pure:
   nothing is evicted; the service emits "preemption requested" from the plan).
A reference driver for embedders and tests. The scheduler service (``services/scheduler/engine.py``,
which also skips gangs identical to one that just failed and hands never-fitting ones back to quota) and
the replay (``libs/replay``, which keeps its own event queue) run their own loops over the same ``place``
and ``find_preemption_targets``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .gang import as_policy
from .model import Workload
from .outcomes import PlacementResult
from .placer import place
from .preemption import PreemptionOutcome, PreemptionPlan, find_preemption_targets
from .scoring import PlacementPolicy, Strategy
from .snapshot import Snapshot


@dataclass(frozen=True)
class CycleDecision:
    """What the cycle decided for one workload."""

    workload_id: str
    placement: PlacementResult  # committed to the snapshot when placed
    preemption: PreemptionPlan | None = None  # victims to evict when it did not fit


def run_cycle(snapshot: Snapshot, pending: Sequence[Workload], policy: PlacementPolicy | Strategy = Strategy.BINPACK,
              *, now: float, min_runtime: float = 0.0, preempt: bool = True) -> tuple[CycleDecision, ...]:
    """Return one decision per pending workload; fits are committed to ``snapshot``."""
    policy = as_policy(policy)
    decisions = []
    for workload in pending:
        result = place(snapshot, workload, policy, now=now)  # 1.
        plan = None
        if not result.placed and preempt:
            plan = find_preemption_targets(snapshot, workload, policy, now=now, min_runtime=min_runtime)  # 2.
            if plan.outcome != PreemptionOutcome.FOUND:
                plan = None
        decisions.append(CycleDecision(workload.id, result, plan))
    return tuple(decisions)
