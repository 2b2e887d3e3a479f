"""What-if: the same trace under two configurations, side by side, with differences."""

from __future__ import annotations

from dataclasses import dataclass

from .metrics import summary
from .sim import ReplayResult

# figures worth comparing, with whether higher is better
OVERALL_FIELDS = (("avg_jct_s", False), ("p99_jct_s", False), ("avg_queue_s", False), ("p99_queue_s", False),
                  ("avg_gpu_allocation", True), ("avg_fragmentation", False), ("avg_stranded_share", False),
                  ("fairness_gap", False),
                  ("preemptions", False), ("lost_gpu_hours", False), ("makespan_s", False), ("unfinished", False))
TEAM_FIELDS = (("avg_queue_s", False), ("p99_queue_s", False), ("avg_jct_s", False), ("received_share", True),
               ("fair_shortfall", False), ("preemptions", False))


@dataclass(frozen=True)
class Diff:
    """One figure under A and B, and the change from A to B."""

    scope: str  # "overall" or a team
    field: str
    a: float
    b: float
    higher_is_better: bool

    @property
    def delta(self) -> float:
        """Return b - a."""
        return self.b - self.a

    @property
    def relative(self) -> float | None:
        """Return (b - a) / |a|, or None when a is 0."""
        return None if self.a == 0 else self.delta / abs(self.a)

    @property
    def verdict(self) -> str:
        """Return "better", "worse" or "same" for B relative to A."""
        if abs(self.delta) <= 1e-9 * max(1.0, abs(self.a)):
            return "same"
        return "better" if (self.delta > 0) == self.higher_is_better else "worse"


def diff_summaries(a: dict, b: dict) -> list[Diff]:
    """Return the differences between two replay summaries (overall, then per common team)."""
    out = [Diff("overall", f, float(a["overall"][f]), float(b["overall"][f]), hib) for f, hib in OVERALL_FIELDS
           if f in a["overall"] and f in b["overall"]]
    teams_b = {t["name"]: t for t in b["teams"]}
    for team in a["teams"]:
        other = teams_b.get(team["name"])
        if other is None:
            continue
        out += [Diff(team["name"], f, float(team[f]), float(other[f]), hib) for f, hib in TEAM_FIELDS]
    return out


def compare_summaries(sa: dict, sb: dict) -> dict:
    """Return both summaries and their differences (JSON-ready)."""
    return {"a": sa, "b": sb, "diffs": [{"scope": d.scope, "field": d.field, "a": d.a, "b": d.b, "delta": d.delta,
                                         "relative": d.relative, "verdict": d.verdict} for d in diff_summaries(sa, sb)]}


def compare(a: ReplayResult, b: ReplayResult) -> dict:
    """Return both runs' summaries and their differences (JSON-ready)."""
    return compare_summaries(summary(a), summary(b))
