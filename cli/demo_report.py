"""What the demo shows: a live table of workload states per team, and the closing summary."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.console import Group
from rich.table import Table
from rich.text import Text

from libs.platform.observer import FlowObserver

# column → the observer states it groups (kept narrow enough for an 80-column terminal)
COLUMNS = {"queued": ("submitted", "accepted", "pending", "reserved"), "waiting-nodes": ("unschedulable",),
           "running": ("placed", "running"), "succeeded": ("succeeded",), "failed": ("failed",),
           "rejected": ("rejected",)}


def _by_team(observer: FlowObserver, prefix: str = "demo") -> dict[str, Counter]:
    teams: dict[str, Counter] = defaultdict(Counter)
    for key, view in observer.workloads.items():
        if key.startswith(prefix):
            teams[view.tenant or "?"][view.state] += 1
    return teams


def live_table(observer: FlowObserver, expected: int, *, prefix: str = "demo") -> Table:
    """Returns the live table of workload states per team (workloads whose id starts with ``prefix``)."""
    table = Table(title=f"batchyard demo: {len(observer.workloads)} of {expected} workloads seen", expand=False)
    table.add_column("team")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for team, states in sorted(_by_team(observer, prefix).items()):
        table.add_row(team, *(str(sum(states.get(s, 0) for s in group) or "") for group in COLUMNS.values()))
    repairs = observer.counts["NodeRepairTransitioned"]
    table.caption = (f"events: {sum(observer.counts.values())}  node repairs: {repairs}  "
                     f"dead letters: {len(observer.dead_letters)}  cost accruals: {observer.counts['CostAccrued']}")
    return table


def summary(observer: FlowObserver, wall_s: float, time_scale: float, *, prefix: str = "demo") -> Group:
    """Returns the closing report: outcomes and cost per team, refusals with reasons, repairs, dead letters."""
    table = Table(title="What happened")
    for column in ("team", "workloads", "succeeded", "failed", "rejected", "cost (USD)"):
        table.add_column(column, justify="right" if column != "team" else "left")
    costs: Counter = Counter()
    for key, view in observer.workloads.items():
        if key.startswith(prefix):
            costs[view.tenant or "?"] += view.cost_micros
    for team, states in sorted(_by_team(observer, prefix).items()):
        table.add_row(team, str(sum(states.values())), str(states["succeeded"]), str(states["failed"]),
                      str(states["rejected"]), f"{costs[team] / 1e6:,.2f}")
    lines = [Text(f"wall time {wall_s:.0f}s = {wall_s * time_scale / 3600:.1f} simulated hours; "
                  f"total cost ${sum(costs.values()) / 1e6:,.2f}")]
    refused = [(k, v.reason) for k, v in sorted(observer.workloads.items()) if v.state == "rejected"]
    lines += [Text(f"rejected {k}: {reason}") for k, reason in refused]
    lines += [Text(f"dead-lettered by {d.service}: {d.reason}: {d.error[:120]}") for d in observer.dead_letters]
    lines += cluster_choices(observer, prefix)
    lines.append(Text(f"node repair transitions: {observer.counts['NodeRepairTransitioned']}; "
                      f"health signals: {observer.counts['NodeHealthReported']}"))
    return Group(table, *lines)


def cluster_choices(observer: FlowObserver, prefix: str = "demo") -> list[Text]:
    """Returns where workloads on flavors spanning clusters went, and the scheduler's reason for the first."""
    chosen = [(k, v.cluster_choice) for k, v in sorted(observer.workloads.items())
              if k.startswith(prefix) and v.cluster_choice]
    if not chosen:
        return []
    counts = Counter(cluster for _, (cluster, _) in chosen)
    first, (_, why) = chosen[0]
    return [Text("placed on a flavor spanning clusters: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))
                 + f"; e.g. {first}: {why}")]
