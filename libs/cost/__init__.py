"""Pure cost model: price catalog, node-hour shares, the append-only ledger, rollups.

No I/O, no clock, no floats: money is integer micro-dollars. See docs/cost.md.
"""

from libs.cost.book import LedgerBook, accrue, affected_node_hours, rows_for_node_hour
from libs.cost.catalog import PriceCatalog, PriceKey, PriceLookupError, PriceVersion, PricingModel
from libs.cost.ledger import (
    Discrepancy,
    LedgerRow,
    NodeHour,
    RowKind,
    booked_by_party,
    delta_rows,
    reconcile,
)
from libs.cost.money import (
    MICROS_PER_DOLLAR,
    Micros,
    amortised_hourly_micros,
    format_dollars,
    largest_remainder,
    largest_remainder_of,
    to_micros,
)
from libs.cost.rollup import Dim, RollupRow, ledger_csv, rollup, rollup_csv
from libs.cost.shares import IDLE, CostConfig, NodeHourCost, ShareWeights, cost_node_hour, node_share
from libs.cost.usage import (
    NodeSpec,
    Owner,
    Resources,
    UsageInterval,
    canonical_intervals,
    hour_floor,
    split_at_hours,
    supersedes,
)

__all__ = [
    "IDLE", "MICROS_PER_DOLLAR", "CostConfig", "Dim", "Discrepancy", "LedgerBook", "LedgerRow",
    "Micros", "NodeHour", "NodeHourCost", "NodeSpec", "Owner", "PriceCatalog", "PriceKey",
    "PriceLookupError", "PriceVersion", "PricingModel", "Resources", "RollupRow", "RowKind",
    "ShareWeights", "UsageInterval", "accrue", "affected_node_hours", "amortised_hourly_micros",
    "booked_by_party", "canonical_intervals", "cost_node_hour", "delta_rows", "format_dollars",
    "hour_floor", "largest_remainder", "largest_remainder_of", "ledger_csv", "node_share", "reconcile", "rollup",
    "rollup_csv", "rows_for_node_hour", "split_at_hours", "supersedes", "to_micros",
]
