"""The intake's records in one transaction per group (group commit, ADR 0022): objects being submitted at once share a
commit, however many (``libs.platform.group_call``).

Each submitter hands ``Recorder.record`` its workload row and, when it has one, its WorkloadSubmitted; they wait
together while one writer inserts the rows (one statement), the fresh ones' events (the outbox, one statement) and
commits. A group that fails is written again one record at a time, so a record the database refuses fails alone and
its submitter retries it, as before; the others are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from libs.events import WorkloadSubmitted
from libs.events.topics import KUBE_CONNECTOR as PRODUCER
from libs.platform.group_call import GroupCall
from libs.platform.unit_of_work import UnitOfWork, insert_outbox
from services.kube_connector import repository as repo


@dataclass
class Record:
    """One newly seen object: its row (``repository.new_workload``), and what to publish if it is new."""

    row: tuple
    event: WorkloadSubmitted | None = None
    trace: dict = field(default_factory=dict)

    @property
    def workload_id(self) -> str:
        return self.row[0]


class Recorder:
    """Writes the records handed to it meanwhile in one transaction per group of at most ``group``."""

    def __init__(self, pool: asyncpg.Pool, namespace: str, *, group: int = 500) -> None:
        self.pool, self.namespace = pool, namespace
        self._group = GroupCall(self._write, group=group, name="intake")

    @property
    def commits(self) -> int:
        """Transactions committed (a test and the curious read it)."""
        return self._group.groups

    async def record(self, record: Record) -> bool:
        """Records one object; returns whether it was new (its event, if any, is then in the outbox)."""
        return await self._group(record)

    async def _write(self, records: list[Record]) -> list[bool]:
        outbox: list[tuple] = []
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await repo.insert_workloads(conn, [r.row for r in records])
            for r in records:
                if r.event is not None and r.workload_id in fresh:
                    await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace,
                                     outbox_rows=outbox).emit(r.event, trace=r.trace)
            await insert_outbox(conn, outbox)
        return [r.workload_id in fresh for r in records]
