"""Cost events for finance: per-workload accruals and daily rollups. Money is integer micro-dollars."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from libs.events.envelope import Event


class CostAccrued(Event):
    """What one workload cost on one node over [start, end): one ledger row of that workload.

    The cost-reporting service books per node-hour, so [start, end) is one UTC hour and ``ledger_row_id`` names
    the row. A ``correction`` moves an earlier booking to the new truth and may be negative; the sum of a
    workload's accruals is what it owes.
    """

    type: Literal["CostAccrued"] = "CostAccrued"
    cluster: str
    pool: str
    queue: str | None = None
    gpu_model: str | None = None
    start: datetime
    end: datetime
    amount_micros: int = Field(description="Micro-dollars; negative only for a correction.")
    share: float = Field(ge=0, le=1, description="The workload's weighted share of the node.")
    kind: Literal["accrual", "correction"] = Field(
        default="accrual", description="First booking of the node-hour, or a later correction of it.")
    ledger_row_id: str | None = Field(default=None, description="The ledger row this event reports.")
    instance_type: str | None = None
    price_version_id: str | None = Field(default=None, description="The price catalog revision that priced it.")


class CostRolledUp(Event):
    """Total cost of one key (org, team, queue, cluster, GPU model) on one day."""

    type: Literal["CostRolledUp"] = "CostRolledUp"
    dimension: Literal["org", "team", "queue", "cluster", "gpu_model", "pool-idle"]
    rollup_key: str
    day: date
    amount_micros: int = Field(ge=0)
    revision: int = Field(default=1, ge=1, description="Bumped when a late correction changes a closed day.")
