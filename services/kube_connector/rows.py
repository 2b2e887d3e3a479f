"""Workload rows read once, changed in memory, written once: the connector's handlers over a poll batch (ADR 0022).

``Rows.load`` locks the rows of the workloads a run of events names (in id order, so two runs never wait on each
other in a cycle); each handler reads and moves them with ``get`` and ``transition`` as if one at a time; ``flush``
writes every row that changed in one ``update ... from unnest``. A run of a thousand placements is two statements
instead of three thousand, and a workload that several events of the run move (accepted, reserved, placed) is
written once, as one-by-one handling would leave it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import asyncpg

from libs.platform.store import columns as as_columns
from services.kube_connector.status import Change, advance, notice

NOTICES_KEPT = 20  # Kubernetes Events still to write, newest last
# The columns a transition may set, with their SQL types (the rest of a row never changes here).
MUTABLE = {"phase": "text", "status": "jsonb", "notices": "jsonb", "status_version": "int4", "attempt": "int4",
           "cluster_queue": "text", "assignments": "jsonb", "evict_reason": "text", "evict_message": "text",
           "failures": "int4", "backoff_limit": "int4"}
JSONB = ("status", "notices", "assignments", "trace")  # decoded when read (templates only when used)


@dataclass(frozen=True)
class WorkloadRow:
    """A workload as the connector keeps it (see migrations/001_connector.sql for each column's purpose)."""

    workload_id: str
    kind: str
    namespace: str
    name: str
    uid: str
    org: str | None
    team: str | None
    templates_json: str | dict = field(repr=False)  # decoded on first use (``templates``): only pod creation needs it
    pod_count: int
    phase: str
    attempt: int
    assignments: list
    evict_reason: str | None
    evict_message: str | None
    trace: dict
    failures: int = 0  # runs that failed before this attempt (WorkloadPlaced.failures)
    backoff_limit: int = 0  # failed runs retried before a failure is final (the spec's)

    @classmethod
    def of(cls, record: asyncpg.Record | dict) -> "WorkloadRow":
        data = {f: record[f] for f in _STORED}
        for f in ("assignments", "trace"):
            data[f] = json.loads(data[f]) if isinstance(data[f], str) else (data[f] or ({} if f != "assignments"
                                                                                          else []))
        return cls(**data, templates_json=record["templates"] or {})

    @cached_property
    def templates(self) -> dict:
        """Pod set name -> its pod template."""
        raw = self.templates_json
        return json.loads(raw) if isinstance(raw, str) else raw


_STORED = tuple(f for f in WorkloadRow.__dataclass_fields__ if f != "templates_json")


class Rows:
    """The locked rows of some workloads, as dicts of their columns (jsonb columns decoded)."""

    def __init__(self, rows: dict[str, dict]) -> None:
        self.rows = rows
        self.changed: set[str] = set()

    @classmethod
    async def load(cls, conn: asyncpg.Connection, workload_ids: Iterable[str]) -> "Rows":
        """Reads and locks the rows of ``workload_ids`` (unknown ids are simply absent)."""
        records = await conn.fetch("select * from workloads where workload_id = any($1::text[]) "
                                   "order by workload_id for update", sorted(set(workload_ids)))
        return cls({r["workload_id"]: _decoded(r) for r in records})

    def get(self, workload_id: str) -> WorkloadRow | None:
        """Returns the workload as it stands now in this batch (None: unknown)."""
        row = self.rows.get(workload_id)
        return WorkloadRow.of(row) if row is not None else None

    def transition(self, workload_id: str, change: Change | None, *, now: str, phase: str | None = None,
                   only_from: tuple[str, ...] | None = None, **columns) -> bool:
        """Moves a workload to ``phase`` (if given and it is in ``only_from``), records the status change and its
        Event, and sets ``columns``; returns False when the workload is unknown or in another phase."""
        row = self.rows.get(workload_id)
        if row is None or (only_from is not None and row["phase"] not in only_from):
            return False
        if phase is not None:
            row["phase"] = phase
        if change is not None:
            facts = {k: columns.pop(k) for k in ("clusterQueue", "attempts", "nodes") if k in columns}
            row["status"] = advance(row["status"], change, now=now, workload_id=workload_id, **facts)
            row["notices"] = [*row["notices"], notice(change)][-NOTICES_KEPT:]
            row["status_version"] += 1
        unknown = set(columns) - set(MUTABLE)
        if unknown:
            raise ValueError(f"a transition cannot set {sorted(unknown)}")
        row.update(columns)
        self.changed.add(workload_id)
        return True

    async def flush(self, conn: asyncpg.Connection) -> int:
        """Writes every changed row in one statement; returns how many."""
        if not self.changed:
            return 0
        names = list(MUTABLE)
        data = [(wid, *(_encoded(name, self.rows[wid][name]) for name in names)) for wid in sorted(self.changed)]
        arrays = as_columns(data, len(names) + 1)
        unnest = ", ".join(f"${i}::{'text' if MUTABLE[n] == 'jsonb' else MUTABLE[n]}[]"
                           for i, n in enumerate(names, start=2))
        sets = ", ".join(f"{n} = v.{n}" + ("::jsonb" if MUTABLE[n] == "jsonb" else "") for n in names)
        await conn.execute(f"update workloads w set {sets}, updated_at = now() from unnest($1::text[], {unnest}) "
                           f"as v(workload_id, {', '.join(names)}) where w.workload_id = v.workload_id", *arrays)
        written = len(self.changed)
        self.changed.clear()
        return written


def _decoded(record: asyncpg.Record) -> dict:
    row = dict(record)
    for name in JSONB:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    row["notices"] = row.get("notices") or []
    row["status"] = row.get("status") or {}
    return row


def _encoded(name: str, value):
    if MUTABLE[name] == "jsonb":
        return None if value is None else json.dumps(value)
    return value
