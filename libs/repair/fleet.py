"""The planner's whole input state: node records, folded health, occupancy, repair results.

:class:`FleetState` is immutable. :func:`fold` returns a new one with a batch of signals
applied. The planner then returns the next FleetState inside its :class:`Plan`, which the
service persists next to the transitions it emits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from libs.repair.budget import Start
from libs.repair.codes import Action
from libs.repair.machine import NodeRecord
from libs.repair.signals import HealthSignal, NodeHealth, observe


@dataclass(frozen=True, slots=True)
class OccupancyObserved:
    """How much work is still on a node, and how long its gangs asked to be given to leave."""

    node: str
    at: datetime
    running_pods: int
    grace: timedelta = timedelta(0)  # the largest termination grace among running gangs


@dataclass(frozen=True, slots=True)
class RepairFinished:
    """The connector finished (or gave up on) a reboot / reimage / replace."""

    node: str
    at: datetime
    action: Action
    ok: bool
    detail: str = ""  # e.g. "reimage: PXE boot timed out"


FleetSignal = HealthSignal | OccupancyObserved | RepairFinished


@dataclass(frozen=True, slots=True)
class FleetState:
    """Everything node-repair knows about the fleet, at the end of the last cycle."""

    nodes: dict[str, NodeRecord]  # node id -> record
    health: dict[str, NodeHealth] = field(default_factory=dict)  # node id -> folded signals
    occupancy: dict[str, OccupancyObserved] = field(default_factory=dict)  # newest per node
    results: dict[str, RepairFinished] = field(default_factory=dict)  # unconsumed, newest per node
    starts: tuple[Start, ...] = ()  # cordons inside the rate window, oldest first

    @classmethod
    def of(cls, records: Iterable[NodeRecord]) -> FleetState:
        """Returns a fleet of ``records`` with no signals yet."""
        recs = {r.node: r for r in records}
        return cls(recs, {n: NodeHealth(n) for n in recs})

    def health_of(self, node: str) -> NodeHealth:
        """Returns the folded health of ``node`` (empty if nothing was heard)."""
        return self.health.get(node) or NodeHealth(node)


def fold(fleet: FleetState, signals: Iterable[FleetSignal]) -> FleetState:
    """Returns ``fleet`` with ``signals`` applied; signals for unknown nodes are ignored."""
    health, occ, results = dict(fleet.health), dict(fleet.occupancy), dict(fleet.results)
    for s in signals:
        if s.node not in fleet.nodes:
            continue
        match s:
            case OccupancyObserved():
                if s.node not in occ or s.at >= occ[s.node].at:
                    occ[s.node] = s
            case RepairFinished():
                if s.node not in results or s.at >= results[s.node].at:
                    results[s.node] = s
            case _:
                health[s.node] = observe(health.get(s.node) or NodeHealth(s.node), s)
    return dataclasses.replace(fleet, health=health, occupancy=occ, results=results)
