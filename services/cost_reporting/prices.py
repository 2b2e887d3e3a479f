"""The YAML price file: finance's overrides of the catalog (on-demand, spot, on-prem amortised), applied atomically.

```yaml
prices:
  - {cluster: aws-use1, pool: h100, instance_type: p5.48xlarge, effective_from: "2026-11-01T00:00:00Z",
     model: on_demand, hourly: "55.04"}
  - {cluster: onprem-dc1, pool: a100, instance_type: dgx-a100, effective_from: "2026-11-01T00:00:00Z",
     model: on_prem_amortised, amortised: {capex: "250000", lifetime_hours: 35064, opex_per_hour: "2.50"}}
```

Every entry becomes a new price version (source ``file:<name>``); an entry identical to the version already
in force for that key and instant is skipped, so applying a file twice changes nothing. The whole file is
validated before anything is written, and written in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import asyncpg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from libs.cost import PriceKey, amortised_hourly_micros, to_micros
from services.cost_reporting import repository as repo


class PriceFileError(ValueError):
    """The price file is unreadable or invalid; the message names the file and the entry."""


def _dollars(value) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a price must be a number of dollars")
    try:
        amount = Decimal(str(value))  # YAML floats go through their shortest decimal text, never binary
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number of dollars") from exc
    if amount < 0 or not amount.is_finite():
        raise ValueError(f"{value!r} must be a non-negative number of dollars")
    return amount


class Amortised(BaseModel):
    """An owned machine: capex spread linearly over its life, plus opex per hour."""

    model_config = ConfigDict(extra="forbid")
    capex: Decimal
    lifetime_hours: int = Field(gt=0)
    opex_per_hour: Decimal = Decimal(0)

    @field_validator("capex", "opex_per_hour", mode="before")
    @classmethod
    def _money(cls, value) -> Decimal:
        return _dollars(value)


class PriceEntry(BaseModel):
    """One price version in the file."""

    model_config = ConfigDict(extra="forbid")
    cluster: str = Field(min_length=1)
    pool: str = Field(min_length=1)
    instance_type: str = Field(min_length=1)
    effective_from: datetime
    model: Literal["on_demand", "spot", "on_prem_amortised"] = "on_demand"
    hourly: Decimal | None = None
    amortised: Amortised | None = None

    @field_validator("hourly", mode="before")
    @classmethod
    def _money(cls, value) -> Decimal | None:
        return None if value is None else _dollars(value)

    @model_validator(mode="after")
    def _one_price(self) -> "PriceEntry":
        if self.effective_from.tzinfo is None:
            raise ValueError("effective_from needs a timezone, e.g. 2026-11-01T00:00:00Z")
        if (self.hourly is None) == (self.amortised is None):
            raise ValueError("give exactly one of hourly or amortised")
        if self.amortised is not None and self.model != "on_prem_amortised":
            raise ValueError("amortised prices need model: on_prem_amortised")
        return self

    @property
    def key(self) -> PriceKey:
        return PriceKey(self.cluster, self.pool, self.instance_type)

    @property
    def hourly_micros(self) -> int:
        if self.amortised is not None:
            a = self.amortised
            return amortised_hourly_micros(to_micros(a.capex), a.lifetime_hours, to_micros(a.opex_per_hour))
        return to_micros(self.hourly)


class PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices: list[PriceEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "PriceFile":
        seen = set()
        for p in self.prices:
            if (p.key, p.effective_from) in seen:
                raise ValueError(f"two prices for {p.cluster}/{p.pool}/{p.instance_type} at {p.effective_from}")
            seen.add((p.key, p.effective_from))
        return self


def load_price_file(path: str | Path) -> PriceFile:
    """Returns the validated price file; raises PriceFileError saying what is wrong and where."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
        return PriceFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise PriceFileError(f"{path}: cannot read: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<file>'}: {e['msg']}" for e in exc.errors())
        raise PriceFileError(f"{path}: {problems}") from exc


async def apply_price_file(conn: asyncpg.Connection, prices: PriceFile, source: str) -> list[int]:
    """Records every entry not already in force as a new version, in one transaction; returns the revisions.

    The running service notices the new revisions and books corrections for the node-hours they reprice.
    """
    added = []
    async with conn.transaction():
        await repo.lock_ledger(conn)  # revisions commit in order, so the service's repricing cursor skips none
        for p in prices.prices:
            current = await conn.fetchrow(
                "select hourly_micros, model from price_versions where cluster = $1 and pool = $2 and "
                "instance_type = $3 and effective_from = $4 order by revision desc limit 1",
                p.cluster, p.pool, p.instance_type, p.effective_from)
            if current is not None and (current["hourly_micros"], current["model"]) == (p.hourly_micros, p.model):
                continue
            added.append(await repo.insert_price(conn, p.key, p.effective_from, p.hourly_micros, p.model, source))
    return added
