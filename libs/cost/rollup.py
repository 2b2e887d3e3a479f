"""Rollups of ledger rows (per org, team, queue, cluster, pool, GPU model, day) and CSV export.

Rollups sum *all* rows, accruals and corrections alike, so a rollup always shows the
current truth. IDLE rows have empty org/team/queue; they roll up under ``(idle)`` so idle
cost stays visible per pool and cluster instead of vanishing from a team view.
"""

from __future__ import annotations

import csv
import enum
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from libs.cost.ledger import LedgerRow
from libs.cost.money import Micros, format_dollars
from libs.cost.shares import IDLE


class Dim(enum.Enum):
    """A column to group ledger rows by."""

    ORG = "org"
    TEAM = "team"
    QUEUE = "queue"
    CLUSTER = "cluster"
    POOL = "pool"
    GPU_MODEL = "gpu_model"
    DAY = "day"
    WORKLOAD = "workload"
    NODE = "node"


def dim_value(row: LedgerRow, dim: Dim) -> str:
    """Returns the value of ``dim`` for ``row`` (IDLE rows carry ``(idle)`` as owner)."""
    match dim:
        case Dim.DAY:
            return row.hour.date().isoformat()
        case Dim.WORKLOAD:
            return row.party
        case Dim.NODE:
            return row.node
        case Dim.ORG | Dim.TEAM | Dim.QUEUE if row.party == IDLE:
            return IDLE
        case Dim.GPU_MODEL:
            return row.gpu_model or "(none)"
        case _:
            return getattr(row, dim.value)


@dataclass(frozen=True, slots=True)
class RollupRow:
    """The total of the rows sharing one combination of dimension values."""

    key: tuple[str, ...]  # values in the order of the rollup's dims
    amount: Micros  # net total, corrections included
    rows: int  # how many ledger rows contributed


def rollup(rows: Iterable[LedgerRow], dims: Sequence[Dim]) -> list[RollupRow]:
    """Returns totals grouped by ``dims``, sorted by key; empty groups do not appear."""
    amounts: dict[tuple[str, ...], Micros] = defaultdict(int)
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for r in rows:
        key = tuple(dim_value(r, d) for d in dims)
        amounts[key] += r.amount
        counts[key] += 1
    return [RollupRow(k, amounts[k], counts[k]) for k in sorted(amounts)]


def _render(header: Sequence[str], body: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue()


def rollup_csv(totals: Sequence[RollupRow], dims: Sequence[Dim]) -> str:
    """Returns the rollup as CSV text: one column per dim, then dollars and micros."""
    header = [d.value for d in dims] + ["amount_usd", "amount_micros", "rows"]
    body = ([*t.key, format_dollars(t.amount), t.amount, t.rows] for t in totals)
    return _render(header, body)


LEDGER_COLUMNS = (
    "row_id", "node", "hour", "party", "kind", "amount_usd", "amount_micros", "source_event_id",
    "cluster", "pool", "instance_type", "gpu_model", "org", "team", "queue", "price_version_id",
)


def ledger_csv(rows: Iterable[LedgerRow]) -> str:
    """Returns ledger rows as CSV text in the given order (finance's raw export)."""
    body = (
        [r.row_id, r.node, r.hour.isoformat(), r.party, r.kind.value, format_dollars(r.amount),
         r.amount, r.source_event_id, r.cluster, r.pool, r.instance_type, r.gpu_model,
         r.org, r.team, r.queue, r.price_version_id]
        for r in rows
    )
    return _render(LEDGER_COLUMNS, body)
