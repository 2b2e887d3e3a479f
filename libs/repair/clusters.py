"""Cluster reachability: a whole cluster that falls silent is a partition, not a fleet of dead nodes.

Each cluster connector reports every few seconds whether it reached its API server. A cluster with no
reachable report for ``grace`` is unreachable: its nodes take no new work and their silence is not diagnosed
(a reboot cannot reach them anyway, and the nodes are most likely fine). The first reachable report after that
brings it back. Clusters that never reported are not judged (their connector predates heartbeats).

Pure: :func:`judge` takes what was heard and ``now`` and returns the new state and the changes to publish.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ClusterReach:
    """What node repair knows of one cluster's reachability."""

    cluster: str
    first_heard: datetime | None = None  # the first report of either kind (silence is counted from here at worst)
    last_reachable: datetime | None = None  # newest report that reached the API server
    last_failure: datetime | None = None  # newest report that did not
    message: str = ""  # that report's error
    unreachable_since: datetime | None = None  # set while judged unreachable: the last reachable report then
    back_at: datetime | None = None  # when it was last judged reachable again (its nodes get a grace to report)

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None

    @property
    def why(self) -> str:
        """The connector's last error, if it is newer than the last reachable report."""
        if self.last_failure is None or (self.last_reachable and self.last_failure <= self.last_reachable):
            return ""
        return self.message


@dataclass(frozen=True, slots=True)
class ClusterReport:
    """One heartbeat, as read from the node-health topic."""

    cluster: str
    at: datetime
    reachable: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class ReachChange:
    """A cluster judged unreachable, or back: published as ClusterReachabilityChanged."""

    cluster: str
    reachable: bool
    since: datetime
    message: str


def heard(state: ClusterReach | None, report: ClusterReport) -> ClusterReach:
    """Returns ``state`` with ``report`` folded in (reports may arrive out of order; the newest of each kind wins)."""
    state = state or ClusterReach(report.cluster)
    if state.first_heard is None or report.at < state.first_heard:
        state = replace(state, first_heard=report.at)
    if report.reachable:
        if state.last_reachable is None or report.at > state.last_reachable:
            state = replace(state, last_reachable=report.at)
        return state
    if state.last_failure is None or report.at > state.last_failure:
        state = replace(state, last_failure=report.at, message=report.message)
    return state


def judge(clusters: dict[str, ClusterReach], now: datetime,
          grace: timedelta) -> tuple[dict[str, ClusterReach], list[ReachChange]]:
    """Returns the clusters judged at ``now`` and the changes: unreachable when the newest reachable report is
    older than ``grace`` (or none came and the first report is older); reachable again on a reachable
    report newer than the moment it was judged unreachable from."""
    out, changes = {}, []
    for name, c in clusters.items():
        fresh_since = c.last_reachable or c.first_heard
        if c.reachable:
            if fresh_since is not None and now - fresh_since > grace:
                silent = f"no report that reached its API server for {_secs(now - fresh_since)}"
                why = f"{silent}; its connector says: {c.why}" if c.why else silent
                c = replace(c, unreachable_since=fresh_since)
                changes.append(ReachChange(name, False, fresh_since, why))
        elif c.last_reachable is not None and c.last_reachable > c.unreachable_since:
            changes.append(ReachChange(name, True, c.last_reachable,
                                       f"reached again after {_secs(c.last_reachable - c.unreachable_since)}"))
            c = replace(c, unreachable_since=None, back_at=now)
        out[name] = c
    return out, changes


def _secs(d: timedelta) -> str:
    s = int(d.total_seconds())
    return f"{s} s" if s < 120 else f"{s // 60} min"


def excused(clusters: dict[str, ClusterReach], now: datetime) -> dict[str, ClusterReach]:
    """Returns ``clusters`` with every reachable one counted as heard at ``now``: node repair itself was down or
    far behind, so the silence it saw says nothing about the clusters (as for nodes, see repair_loop)."""
    return {name: replace(c, last_reachable=max(filter(None, (c.last_reachable, now)))) if c.reachable else c
            for name, c in clusters.items()}


def excusing(c: ClusterReach, now: datetime, grace: timedelta) -> bool:
    """Whether ``c``'s nodes' silence is excused at ``now``: while it is unreachable, and for ``grace`` after it came
    back (its agents and connector need a moment to report again once the path is restored)."""
    return not c.reachable or (c.back_at is not None and now - c.back_at <= grace)
