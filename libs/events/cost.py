"""Cost events for finance: per-workload accruals and daily rollups. Money is integer micro-dollars."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from libs.events.envelope import Event


class CostAccrued(Event):
    """What one workload cost on one node over [start, end)."""

    type: Literal["CostAccrued"] = "CostAccrued"
    cluster: str
    pool: str
    queue: str | None = None
    gpu_model: str | None = None
    start: datetime
    end: datetime
    amount_micros: int = Field(ge=0)
    share: float = Field(ge=0, le=1, description="The workload's weighted share of the node.")


class CostRolledUp(Event):
    """Total cost of one key (org, team, queue, cluster, GPU model) on one day."""

    type: Literal["CostRolledUp"] = "CostRolledUp"
    dimension: Literal["org", "team", "queue", "cluster", "gpu_model", "pool-idle"]
    rollup_key: str
    day: date
    amount_micros: int = Field(ge=0)
