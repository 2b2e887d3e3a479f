"""An in-memory ``QuotaStore``: quota's rows as dicts, for handler tests without PostgreSQL.

It keeps what ``services.quota.store.PostgresQuotaStore`` keeps (the columns of quota's ``workloads``,
``quota_configs``, ``cancelled_workloads`` and ``suspended_workloads``), with the same conditions on each write,
so a test can check what the handlers would have written. The engine is rebuilt from these rows by the same
``state.engine_of`` the Postgres store uses.
"""

from __future__ import annotations

import inspect
from collections import Counter
from datetime import datetime
from typing import Any

from libs.quota import QuotaEngine, Why
from services.quota.state import Known, NewWorkload, engine_of, pending_row, reserved_row

LIVE = ("pending", "reserved", "inadmissible")  # the states a rebuild loads


class InMemoryQuotaStore:
    """Implements ``QuotaStore``; ``conn`` is ignored."""

    def __init__(self, config: str | None = None) -> None:
        self.configs: list[tuple[int, str, str]] = []  # (version, yaml, source), oldest first
        self.workloads: dict[str, dict[str, Any]] = {}  # workload id → its row, by column name
        self.cancelled: dict[str, tuple[datetime, str | None]] = {}  # workload id → (cancelled_at, had)
        self.suspended: dict[str, dict[str, Any]] = {}  # workload id → its suspended_workloads row
        self._seq = 0
        if config is not None:
            self.configs.append((1, config, "test"))

    def states(self) -> dict[str, str]:
        """Returns each workload's row state: what `batchyard queues` would read."""
        return {wid: row["state"] for wid, row in self.workloads.items()}

    # -- the config -------------------------------------------------------------------------------------------
    async def latest_config(self, conn) -> tuple[int, str] | None:
        return self.configs[-1][:2] if self.configs else None

    async def store_first_config(self, conn, text: str, source: str) -> None:
        if not self.configs:
            self.configs.append((1, text, source))

    async def config_version(self, conn) -> int:
        return self.configs[-1][0] if self.configs else 0

    async def load_engine(self, conn, text: str, now: float) -> tuple[QuotaEngine, dict[str, Known]]:
        rows = sorted((r for r in self.workloads.values() if r["state"] in LIVE), key=lambda r: r["seq"])
        return engine_of(text, rows, now)

    # -- workloads --------------------------------------------------------------------------------------------
    async def insert_workloads(self, conn, workloads: list[NewWorkload]) -> set[str]:
        new: set[str] = set()
        for w in workloads:
            if w.workload_id in self.workloads:
                continue
            self._seq += 1
            new.add(w.workload_id)
            self.workloads[w.workload_id] = {
                "workload_id": w.workload_id, "seq": self._seq, "org": w.tenant.org, "team": w.tenant.team,
                "local_queue": w.local_queue, "cluster_queue": w.cluster_queue, "priority": w.priority,
                "spec": w.spec.model_dump_json(), "state": "pending", "flavor": None, "excluded": [],
                "trace": w.trace, "created_at": w.created_at, "admission": None, "reserved_at": None,
                "placed": False, "requeue_at": 0.0, "attempts": 0, "pending_reason": None, "pending_message": None,
                "position": None, "failures": 0}
        return new

    async def mark_placed(self, conn, workload_ids: list[str]) -> None:
        for workload_id in workload_ids:
            if (row := self.workloads.get(workload_id)) is not None:
                row["placed"] = True

    async def workload_state(self, conn, workload_id: str) -> str | None:
        row = self.workloads.get(workload_id)
        return row["state"] if row else None

    async def set_priority(self, conn, workload_id: str, priority: int) -> bool:
        row = self.workloads.get(workload_id)
        if row is None or row["state"] == "finished":
            return False
        row["priority"] = priority
        return True

    async def count_failure(self, conn, workload_id: str, attempt: int) -> bool:
        row = self.workloads.get(workload_id)
        if row is None or row["failures"] >= attempt or row["state"] == "finished":
            return False
        row["failures"] = attempt
        return True

    async def exclude_flavor(self, conn, workload_id: str, flavor: str) -> None:
        row = self.workloads.get(workload_id)
        if row is not None and flavor not in row["excluded"]:
            row["excluded"].append(flavor)

    async def persist(self, conn, engine: QuotaEngine, ids: set[str], now: float, whys: dict[str, Why]) -> None:
        pending = []
        for wid in sorted(ids):
            row, where = self.workloads.get(wid), engine.where(wid)
            if row is None:
                continue
            if where == "reserved":
                _, cq, admission, reserved_at, placed, flavor = reserved_row(engine, wid)
                row.update(state="reserved", cluster_queue=cq, admission=admission, reserved_at=reserved_at,
                           placed=placed, flavor=flavor, pending_reason=None, pending_message=None, position=None)
            elif where == "pending":
                pending.append(wid)
            elif row["state"] != "finished":
                row.update(state="finished", admission=None, position=None)
        infos = engine.pending_infos(pending, now) if pending else {}
        for wid in pending:
            _, cq, requeue_at, attempts, reason, message, position = pending_row(engine, wid, infos.get(wid),
                                                                                 whys.get(wid), now)
            row = self.workloads[wid]
            row.update(state="pending", admission=None, placed=False, cluster_queue=cq or row["cluster_queue"],
                       requeue_at=requeue_at, attempts=attempts, pending_reason=reason, pending_message=message,
                       position=position)

    # -- cancellations ----------------------------------------------------------------------------------------
    async def remember_cancelled(self, conn, workload_id: str, at: datetime, had: str | None) -> bool:
        if workload_id in self.cancelled:
            return False
        self.cancelled[workload_id] = (at, had)
        return True

    async def was_cancelled(self, conn, workload_id: str) -> bool:
        return workload_id in self.cancelled

    async def cancelled_among(self, conn, workload_ids: list[str]) -> set[str]:
        return set(workload_ids) & set(self.cancelled)

    # -- suspensions ------------------------------------------------------------------------------------------
    async def remember_suspended(self, conn, workload_id: str, at: datetime, had: str | None,
                                 placed: bool) -> bool:
        row = self.suspended.get(workload_id)
        if row is not None and row["suspended_at"] == at:
            return False
        self.suspended[workload_id] = {"suspended_at": at, "had": had, "stopped": had != "reserved",
                                       "placed": placed, "resumed_at": None}
        return True

    async def run_stopped(self, conn, workload_id: str, at: datetime | None = None) -> bool | None:
        row = self.suspended.get(workload_id)
        if row is None or row["stopped"] or (at is not None and (row["suspended_at"] != at or row["placed"])):
            return None
        row["stopped"] = True
        return row["resumed_at"] is not None

    async def saw_placed(self, conn, workload_ids: list[str]) -> None:
        for workload_id in workload_ids:
            row = self.suspended.get(workload_id)
            if row is not None and not row["stopped"]:
                row["placed"] = True

    async def ended_by_themselves(self, conn, workload_ids: list[str]) -> set[str]:
        ended = {wid for wid in workload_ids if wid in self.suspended and not self.suspended[wid]["stopped"]}
        for workload_id in ended:
            del self.suspended[workload_id]
            if workload_id in self.workloads:
                self.workloads[workload_id]["state"] = "finished"
        return ended

    async def resume(self, conn, workload_id: str, at: datetime) -> str | None:
        row = self.suspended.get(workload_id)
        if row is None:
            return None
        if row["had"] == "finished" or row["stopped"]:
            del self.suspended[workload_id]
            return "ended" if row["had"] == "finished" else "queue"
        row["resumed_at"] = at
        return "wait"

    async def forget_suspended(self, conn, workload_id: str) -> None:
        self.suspended.pop(workload_id, None)

    async def mark_suspended(self, conn, workload_id: str) -> None:
        if (row := self.workloads.get(workload_id)) is not None:
            row.update(state="suspended", admission=None, position=None, pending_reason=None, pending_message=None)

    async def requeue_resumed(self, conn, workload_id: str, created_at: float) -> dict[str, Any] | None:
        row = self.workloads.get(workload_id)
        if row is None or row["state"] != "suspended":
            return None
        row.update(state="pending", created_at=created_at, requeue_at=0.0, placed=False, admission=None)
        return dict(row)


class CountingQuotaStore:
    """Wraps a ``QuotaStore`` and counts the calls of each of its methods: on PostgreSQL, each is a round trip (or
    more) inside the handler's transaction, so a batch handler's calls show whether it works set-wise."""

    def __init__(self, store) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str):
        method = getattr(self.store, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def counted(*args, **kwargs):
            self.calls[name] += 1
            return await method(*args, **kwargs)
        return counted
