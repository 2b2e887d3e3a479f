"""The price catalog: hourly node prices per cluster / pool / instance type, versioned in time.

A price never changes in place. Finance (or a spot-price feed) adds a new
:class:`PriceVersion` with an ``effective_from`` timestamp; a lookup at time ``t`` picks
the latest version whose ``effective_from <= t``. A node-hour is priced by the version in
force at the *start* of the hour, so a mid-hour spot change takes effect from the next
hour and a node-hour always has exactly one price.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from libs.cost.money import Micros


class PricingModel(enum.Enum):
    """How the hourly price was obtained; carried to the ledger for finance."""

    ON_DEMAND = "on_demand"
    SPOT = "spot"
    ON_PREM_AMORTISED = "on_prem_amortised"


@dataclass(frozen=True, slots=True, order=True)
class PriceKey:
    """What a price applies to: one instance type in one pool of one cluster."""

    cluster: str
    pool: str
    instance_type: str


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """One hourly price for a :class:`PriceKey`, in force from ``effective_from`` on."""

    key: PriceKey
    effective_from: datetime  # timezone-aware; in force until the next version's start
    hourly: Micros  # price of one whole node-hour in micro-dollars
    model: PricingModel = PricingModel.ON_DEMAND
    version_id: str = ""  # catalog revision id, echoed for audit

    def __post_init__(self) -> None:
        if self.effective_from.tzinfo is None:
            raise ValueError("effective_from must be timezone-aware")
        if not isinstance(self.hourly, int) or self.hourly < 0:
            raise ValueError("hourly must be a non-negative int of micros")


class PriceLookupError(LookupError):
    """No price is in force for a key at a time; the reason says which and why."""


@dataclass(frozen=True, slots=True)
class PriceCatalog:
    """An immutable, time-versioned price list. Build it with :meth:`of`."""

    # per key, versions sorted by effective_from (no two share a timestamp)
    versions: dict[PriceKey, tuple[PriceVersion, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, versions: Iterable[PriceVersion]) -> PriceCatalog:
        """Returns a catalog of ``versions``; rejects two versions of a key at the same instant."""
        grouped: dict[PriceKey, list[PriceVersion]] = {}
        for v in versions:
            grouped.setdefault(v.key, []).append(v)
        out: dict[PriceKey, tuple[PriceVersion, ...]] = {}
        for key, vs in grouped.items():
            vs.sort(key=lambda v: v.effective_from)
            starts = [v.effective_from for v in vs]
            if len(set(starts)) != len(starts):
                raise ValueError(f"two prices for {key} start at the same instant")
            out[key] = tuple(vs)
        return cls(out)

    def with_version(self, version: PriceVersion) -> PriceCatalog:
        """Returns a new catalog with ``version`` added (the old one is unchanged)."""
        return PriceCatalog.of([*self.all_versions(), version])

    def all_versions(self) -> list[PriceVersion]:
        """Returns every version of every key, ordered by key then time."""
        return [v for key in sorted(self.versions) for v in self.versions[key]]

    def price_at(self, key: PriceKey, at: datetime) -> PriceVersion:
        """Returns the version of ``key`` in force at ``at``; raises PriceLookupError if none."""
        vs = self.versions.get(key)
        if not vs:
            raise PriceLookupError(f"no price for {key.cluster}/{key.pool}/{key.instance_type}")
        i = bisect.bisect_right(vs, at, key=lambda v: v.effective_from)
        if i == 0:
            raise PriceLookupError(
                f"no price for {key.cluster}/{key.pool}/{key.instance_type} before "
                f"{vs[0].effective_from.isoformat()} (asked for {at.isoformat()})"
            )
        return vs[i - 1]
