"""Turning usage reports into ledger rows: the pure step, and an in-memory book around it.

The cost-reporting service does, per usage event, inside one transaction:

1. skip the event if its id was processed (inbox);
2. load the allocation's current canonical report; if the new one does not supersede it,
   stop (a late, older report changes nothing);
3. ``affected_node_hours(new, old)`` -> for each node-hour load the canonical intervals on
   that node and the existing ledger rows, then ``rows_for_node_hour(...)``;
4. insert the returned rows and the new canonical report.

:class:`LedgerBook` is that loop in memory. It backs the unit tests, the replay tool and
benchmarks, so they all run exactly the service's arithmetic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from libs.cost.catalog import PriceCatalog, PriceKey
from libs.cost.ledger import LedgerRow, NodeHour, delta_rows
from libs.cost.shares import CostConfig, cost_node_hour
from libs.cost.usage import (
    NodeSpec,
    UsageInterval,
    canonical_intervals,
    hour_floor,
    hours_touched,
    supersedes,
)


def affected_node_hours(new: UsageInterval, old: UsageInterval | None) -> list[NodeHour]:
    """Returns every node-hour whose split may change when ``new`` replaces ``old``."""
    hours = {(new.node, h) for h in hours_touched(new.start, new.end)}
    if old is not None:
        hours |= {(old.node, h) for h in hours_touched(old.start, old.end)}
    return sorted(hours)


def rows_for_node_hour(
    node: NodeSpec, hour: datetime, catalog: PriceCatalog, intervals: Iterable[UsageInterval],
    existing: Iterable[LedgerRow], config: CostConfig, source_event_id: str,
) -> list[LedgerRow]:
    """Returns the delta rows that make one node-hour's ledger equal its current truth."""
    price = catalog.price_at(PriceKey(node.cluster, node.pool, node.instance_type), hour)
    truth = cost_node_hour(node, hour, price, intervals, config)
    return delta_rows(existing, truth, source_event_id)


def accrue(
    reports: Iterable[UsageInterval], nodes: Mapping[str, NodeSpec], catalog: PriceCatalog,
    config: CostConfig | None = None, source_event_id: str = "batch",
) -> list[LedgerRow]:
    """Returns the ledger rows for a batch of usage reports in one go (backfill, replay, audit).

    Stateless: canonicalises the reports, then books every node-hour they touch from
    scratch, so the rows equal what incremental ingestion nets out to.
    """
    by_node_hour: dict[NodeHour, list[UsageInterval]] = defaultdict(list)
    for iv in canonical_intervals(reports).values():
        for h in hours_touched(iv.start, iv.end):
            by_node_hour[(iv.node, h)].append(iv)
    rows: list[LedgerRow] = []
    for (node, hour), ivs in sorted(by_node_hour.items()):
        ivs.sort(key=lambda iv: iv.allocation_id)
        rows += rows_for_node_hour(nodes[node], hour, catalog, ivs, [], config or CostConfig(),
                                   source_event_id)
    return rows


class LedgerBook:
    """An in-memory ledger: canonical reports plus append-only rows. Deterministic, no I/O."""

    def __init__(self, nodes: Mapping[str, NodeSpec], catalog: PriceCatalog,
                 config: CostConfig | None = None) -> None:
        self.nodes = dict(nodes)  # node id -> spec, for attribution and capacity
        self.catalog = catalog  # price versions; replace with reprice() to correct prices
        self.config = config or CostConfig()  # share weights
        self.reports: dict[str, UsageInterval] = {}  # allocation id -> canonical report
        self.by_node_hour_allocs: dict[NodeHour, set[str]] = defaultdict(set)  # canonical overlaps
        self.seen: set[str] = set()  # processed event ids (the inbox)
        self.rows: list[LedgerRow] = []  # the ledger, in append order
        self.by_node_hour: dict[NodeHour, list[LedgerRow]] = defaultdict(list)

    def ingest(self, report: UsageInterval) -> list[LedgerRow]:
        """Returns the rows appended for ``report``; [] for a duplicate or superseded report."""
        if report.event_id in self.seen:
            return []
        self.seen.add(report.event_id)
        old = self.reports.get(report.allocation_id)
        if not supersedes(report, old):
            return []
        self.reports[report.allocation_id] = report
        if old is not None:
            for h in hours_touched(old.start, old.end):
                self.by_node_hour_allocs[(old.node, h)].discard(old.allocation_id)
        for h in hours_touched(report.start, report.end):
            self.by_node_hour_allocs[(report.node, h)].add(report.allocation_id)
        return self._recompute(affected_node_hours(report, old), report.event_id)

    def close_node_hour(self, node: str, hour: datetime) -> list[LedgerRow]:
        """Returns the rows that book a node-hour that no usage touched (all IDLE), if any."""
        hour = hour_floor(hour)
        source = f"close:{node}:{hour.isoformat()}"
        if self.by_node_hour.get((node, hour)):
            return []
        return self._recompute([(node, hour)], source)

    def reprice(self, catalog: PriceCatalog, source_event_id: str) -> list[LedgerRow]:
        """Returns the corrections after a catalog change, for every node-hour already booked."""
        self.catalog = catalog
        return self._recompute(sorted(self.by_node_hour), source_event_id)

    def _recompute(self, node_hours: Iterable[NodeHour], source: str) -> list[LedgerRow]:
        out: list[LedgerRow] = []
        for node_id, hour in node_hours:
            intervals = [self.reports[a] for a in sorted(self.by_node_hour_allocs[(node_id, hour)])]
            rows = rows_for_node_hour(self.nodes[node_id], hour, self.catalog, intervals,
                                      self.by_node_hour[(node_id, hour)], self.config, source)
            self.by_node_hour[(node_id, hour)].extend(rows)
            out.extend(rows)
        self.rows.extend(out)
        return out

    def totals(self) -> dict[tuple[str, datetime, str], int]:
        """Returns the net booked amount per (node, hour, party), zero entries dropped."""
        sums: dict[tuple[str, datetime, str], int] = defaultdict(int)
        for r in self.rows:
            sums[(r.node, r.hour, r.party)] += r.amount
        return {k: v for k, v in sums.items() if v != 0}
