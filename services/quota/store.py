"""Quota's store: the port its handlers read and write through, and its PostgreSQL adapter.

``QuotaStore`` lists exactly what the handlers, the timer and the start-up call; ``PostgresQuotaStore`` is the
quota schema (``migrations/``), the statements of ``state.py`` and ``suspension.py``. Tests use an in-memory fake
(tests/support/quota_store.py). ``conn`` is the handler's transaction's connection (a fake may ignore it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from libs.quota import QuotaEngine, Why
from services.quota import state, suspension
from services.quota.state import Known, NewWorkload


class QuotaStore(Protocol):
    """Quota's rows: the versioned config, every workload it has seen, cancellations and suspensions."""

    # -- the config -------------------------------------------------------------------------------------------
    async def latest_config(self, conn) -> tuple[int, str] | None: ...

    async def store_first_config(self, conn, text: str, source: str) -> None: ...

    async def config_version(self, conn) -> int: ...

    async def load_engine(self, conn, text: str, now: float) -> tuple[QuotaEngine, dict[str, Known]]: ...

    # -- workloads --------------------------------------------------------------------------------------------
    async def insert_workloads(self, conn, workloads: list[NewWorkload]) -> set[str]: ...

    async def mark_placed(self, conn, workload_ids: list[str]) -> None: ...

    async def workload_state(self, conn, workload_id: str) -> str | None: ...

    async def set_priority(self, conn, workload_id: str, priority: int) -> bool: ...

    async def count_failure(self, conn, workload_id: str, attempt: int) -> bool: ...

    async def exclude_flavor(self, conn, workload_id: str, flavor: str) -> None: ...

    async def persist(self, conn, engine: QuotaEngine, ids: set[str], now: float, whys: dict[str, Why]) -> None:
        ...

    # -- cancellations ----------------------------------------------------------------------------------------
    async def remember_cancelled(self, conn, workload_id: str, at: datetime, had: str | None) -> bool: ...

    async def was_cancelled(self, conn, workload_id: str) -> bool: ...

    async def cancelled_among(self, conn, workload_ids: list[str]) -> set[str]: ...

    # -- suspensions (suspension.py says what each means) -----------------------------------------------------
    async def remember_suspended(self, conn, workload_id: str, at: datetime, had: str | None,
                                 placed: bool) -> bool: ...

    async def run_stopped(self, conn, workload_id: str, at: datetime | None = None) -> bool | None: ...

    async def saw_placed(self, conn, workload_ids: list[str]) -> None: ...

    async def ended_by_themselves(self, conn, workload_ids: list[str]) -> set[str]: ...

    async def resume(self, conn, workload_id: str, at: datetime) -> str | None: ...

    async def forget_suspended(self, conn, workload_id: str) -> None: ...

    async def mark_suspended(self, conn, workload_id: str) -> None: ...

    async def requeue_resumed(self, conn, workload_id: str, created_at: float) -> Mapping[str, Any] | None: ...


class PostgresQuotaStore:
    """``QuotaStore`` on the quota schema in PostgreSQL: each method is a function of state.py or suspension.py."""

    latest_config = staticmethod(state.latest_config)
    store_first_config = staticmethod(state.store_first_config)
    config_version = staticmethod(state.config_version)
    load_engine = staticmethod(state.load_engine)
    insert_workloads = staticmethod(state.insert_workloads)
    mark_placed = staticmethod(state.mark_placed)
    workload_state = staticmethod(state.workload_state)
    set_priority = staticmethod(state.set_priority)
    count_failure = staticmethod(state.count_failure)
    exclude_flavor = staticmethod(state.exclude_flavor)
    persist = staticmethod(state.persist)
    remember_cancelled = staticmethod(state.remember_cancelled)
    was_cancelled = staticmethod(state.was_cancelled)
    cancelled_among = staticmethod(state.cancelled_among)
    remember_suspended = staticmethod(suspension.remember)
    run_stopped = staticmethod(suspension.stopped)
    saw_placed = staticmethod(suspension.saw_placed)
    ended_by_themselves = staticmethod(suspension.ended_by_themselves)
    resume = staticmethod(suspension.resume)
    forget_suspended = staticmethod(suspension.forget)
    mark_suspended = staticmethod(suspension.mark_row)
    requeue_resumed = staticmethod(suspension.requeue_row)
