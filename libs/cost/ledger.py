"""The append-only cost ledger: rows, delta corrections and reconciliation.

A ledger row books an amount for one party (a workload or IDLE) on one node-hour. Rows are
never edited. When the truth for a node-hour changes (a late event, a superseding report, a
price correction) :func:`delta_rows` returns only the rows that move the booked sums to the
new truth. Because every truth sums to the node-hour's price, the ledger reconciles to
node-hours x price after every batch of deltas, and replaying the same truth adds nothing.
"""

from __future__ import annotations

import enum
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from libs.cost.money import Micros
from libs.cost.shares import IDLE, NodeHourCost
from libs.cost.usage import Owner

NodeHour = tuple[str, datetime]
"""A ledger unit: (node id, start of the UTC hour)."""


class RowKind(enum.Enum):
    """Why a row exists: the first booking of a node-hour, or a later correction."""

    ACCRUAL = "accrual"
    CORRECTION = "correction"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One immutable booking; the attribution columns are copied in so rollups need no joins."""

    row_id: str  # deterministic: same node-hour, party and source event -> same id
    node: str
    hour: datetime  # start of the UTC hour
    party: str  # workload id, or IDLE for the unallocated part of the node
    amount: Micros  # may be negative for a correction
    source_event_id: str  # the event whose processing produced this row
    kind: RowKind
    cluster: str
    pool: str
    instance_type: str
    gpu_model: str
    org: str  # "" for IDLE rows
    team: str  # "" for IDLE rows
    queue: str  # "" for IDLE rows
    price_version_id: str  # the catalog version that priced the node-hour

    @property
    def node_hour(self) -> NodeHour:
        """Returns the (node, hour) this row books against."""
        return (self.node, self.hour)


def row_id_for(node: str, hour: datetime, party: str, source_event_id: str) -> str:
    """Returns a stable id so a replayed delta collides with its first write (unique key)."""
    raw = f"{node}|{hour.isoformat()}|{party}|{source_event_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def booked_by_party(rows: Iterable[LedgerRow]) -> dict[str, Micros]:
    """Returns the net amount booked per party across ``rows``."""
    sums: dict[str, Micros] = defaultdict(int)
    for r in rows:
        sums[r.party] += r.amount
    return dict(sums)


def _owner_for(party: str, truth: NodeHourCost, existing: list[LedgerRow]) -> Owner:
    """Returns the attribution for ``party``: from the truth, else from its latest booked row."""
    if party == IDLE:
        return Owner("", "", "")
    if party in truth.owners:
        return truth.owners[party]
    last = [r for r in existing if r.party == party][-1]
    return Owner(last.org, last.team, last.queue)


def delta_rows(
    existing: Iterable[LedgerRow], truth: NodeHourCost, source_event_id: str
) -> list[LedgerRow]:
    """Returns the new rows that bring ``existing`` (rows of one node-hour) to ``truth``.

    Returns nothing when the ledger already matches. The first booking of a node-hour is an
    ACCRUAL; anything after that is a CORRECTION. Parties are emitted in sorted order.
    """
    rows = [r for r in existing if r.node_hour == (truth.node.node, truth.hour)]
    booked = booked_by_party(rows)
    kind = RowKind.CORRECTION if rows else RowKind.ACCRUAL
    out = []
    for party in sorted(set(booked) | set(truth.amounts)):
        delta = truth.amounts.get(party, 0) - booked.get(party, 0)
        if delta == 0:
            continue
        owner = _owner_for(party, truth, rows)
        n = truth.node
        out.append(LedgerRow(
            row_id=row_id_for(n.node, truth.hour, party, source_event_id),
            node=n.node, hour=truth.hour, party=party, amount=delta,
            source_event_id=source_event_id, kind=kind,
            cluster=n.cluster, pool=n.pool, instance_type=n.instance_type, gpu_model=n.gpu_model,
            org=owner.org, team=owner.team, queue=owner.queue,
            price_version_id=truth.price.version_id,
        ))
    return out


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A node-hour whose booked total differs from its expected price (or is unbooked)."""

    node: str
    hour: datetime
    expected: Micros
    booked: Micros

    @property
    def message(self) -> str:
        """Returns a sentence an operator can act on."""
        return (f"node {self.node} hour {self.hour.isoformat()}: booked {self.booked} micros, "
                f"expected {self.expected} (off by {self.booked - self.expected})")


def reconcile(
    rows: Iterable[LedgerRow], expected: Mapping[NodeHour, Micros]
) -> list[Discrepancy]:
    """Returns every node-hour where the ledger does not equal node-hour x price; [] if clean.

    ``expected`` maps each node-hour the fleet ran to its price. Booked node-hours missing
    from ``expected`` are reported too (expected 0).
    """
    booked: dict[NodeHour, Micros] = defaultdict(int)
    for r in rows:
        booked[r.node_hour] += r.amount
    out = []
    for nh in sorted(set(booked) | set(expected)):
        want, got = expected.get(nh, 0), booked.get(nh, 0)
        if want != got:
            out.append(Discrepancy(nh[0], nh[1], want, got))
    return out
