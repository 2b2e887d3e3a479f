"""Safety budgets and ops overrides: how many nodes may be out, and how fast they may go out.

A node is *out* while CORDONED, DRAINING or REPAIRING. Budgets are checked when a node
would go out (the cordon); nodes already out finish their repair. A pool's budget is
``max(min_out, floor(fraction x live nodes))``, where live means not retired. A topology
domain (e.g. a rack, across pools) has the same kind of budget. ``min_out`` (default 1)
exists so that a small pool can still repair one node at a time. Set it to 0 if a pool may
never lose a node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from libs.repair.codes import ReasonCode
from libs.repair.machine import NodeRecord, NodeState


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """Budgets, rate limits and timers for the planner."""

    pool_max_out: Fraction = Fraction(1, 5)  # share of a pool's live nodes that may be out
    domain_max_out: Fraction = Fraction(1, 4)  # share of a topology domain's live nodes
    min_out: int = 1  # a budget is never below this (unless the group is smaller)
    max_starts_per_window: int = 5  # cordons per pool per rate window
    global_max_starts_per_window: int = 20  # cordons across the fleet per rate window
    rate_window: timedelta = timedelta(minutes=10)
    flap_window: timedelta = timedelta(hours=24)  # a failure this soon after a repair escalates
    drain_grace: timedelta = timedelta(minutes=10)  # default time running work gets to leave
    max_drain_grace: timedelta = timedelta(hours=2)  # cap on a gang's requested grace
    repair_timeout: timedelta = timedelta(hours=2)  # a repair silent this long counts as failed


@dataclass(frozen=True, slots=True)
class Overrides:
    """Ops controls. A forced node skips pauses, budgets and rate limits, once; excluded nodes
    are never cordoned by the planner."""

    paused: bool = False  # no new repairs anywhere (in-flight repairs finish)
    paused_pools: frozenset[str] = frozenset()
    # node -> when ops asked; forces one repair (at least a reboot) unless one finished since
    forced: Mapping[str, datetime] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()  # never cordon, drain or repair these nodes


def limit(live: int, share: Fraction, min_out: int) -> int:
    """Returns how many of ``live`` nodes may be out at once."""
    return min(live, max(min_out, int(share * live)))


@dataclass(frozen=True, slots=True)
class Start:
    """One cordon the planner issued; the rate limiter counts these."""

    node: str
    pool: str
    at: datetime


@dataclass
class BudgetLedger:
    """Counts for one planning cycle; :meth:`check` and :meth:`book` one more node going out."""

    config: SafetyConfig
    live_pool: Counter[str]  # live (not retired) nodes per pool
    live_domain: Counter[str]
    out_pool: Counter[str]  # nodes out per pool right now
    out_domain: Counter[str]
    starts_pool: Counter[str]  # cordons per pool within the rate window
    starts_total: int

    @classmethod
    def of(cls, records: Iterable[NodeRecord], starts: Iterable[Start], config: SafetyConfig,
           now: datetime) -> BudgetLedger:
        """Returns the counts for ``records`` and the starts inside the rate window."""
        recs = [r for r in records if r.state is not NodeState.RETIRED]
        recent = [s for s in starts if now - s.at < config.rate_window]
        return cls(config, Counter(r.pool for r in recs), Counter(r.domain for r in recs),
                   Counter(r.pool for r in recs if r.is_out), Counter(r.domain for r in recs if r.is_out),
                   Counter(s.pool for s in recent), len(recent))

    def pool_limit(self, pool: str) -> int:
        return limit(self.live_pool[pool], self.config.pool_max_out, self.config.min_out)

    def domain_limit(self, domain: str) -> int:
        return limit(self.live_domain[domain], self.config.domain_max_out, self.config.min_out)

    def check(self, rec: NodeRecord) -> tuple[ReasonCode, str] | None:
        """Returns why ``rec`` may not go out now, or None if it may."""
        c = self.config
        if self.starts_total >= c.global_max_starts_per_window:
            return (ReasonCode.RATE_LIMITED, f"fleet rate limit: {self.starts_total} repairs started "
                    f"in the last {_mins(c.rate_window)} (max {c.global_max_starts_per_window})")
        if self.starts_pool[rec.pool] >= c.max_starts_per_window:
            return (ReasonCode.RATE_LIMITED, f"pool {rec.pool} rate limit: {self.starts_pool[rec.pool]} "
                    f"repairs started in the last {_mins(c.rate_window)} (max {c.max_starts_per_window})")
        if self.out_pool[rec.pool] >= self.pool_limit(rec.pool):
            return (ReasonCode.POOL_AT_BUDGET, f"pool {rec.pool} at budget: {self.out_pool[rec.pool]}/"
                    f"{self.live_pool[rec.pool]} out, max {_pct(c.pool_max_out)}")
        if self.out_domain[rec.domain] >= self.domain_limit(rec.domain):
            return (ReasonCode.DOMAIN_AT_BUDGET, f"domain {rec.domain} at budget: "
                    f"{self.out_domain[rec.domain]}/{self.live_domain[rec.domain]} out, "
                    f"max {_pct(c.domain_max_out)}")
        return None

    def book(self, rec: NodeRecord) -> None:
        """Counts ``rec`` as out and as a start for the rate limiter."""
        self.out_pool[rec.pool] += 1
        self.out_domain[rec.domain] += 1
        self.starts_pool[rec.pool] += 1
        self.starts_total += 1


def _pct(share: Fraction) -> str:
    return f"{float(share * 100):g}%"


def _mins(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"
