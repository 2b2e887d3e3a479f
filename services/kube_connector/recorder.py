"""The intake's records in one transaction per group (group commit, ADR 0022): objects being submitted at once share a
commit, however many.

Each submitter hands ``Recorder.record`` its workload row and, when it has one, its WorkloadSubmitted; they wait
together while one writer inserts the rows (one statement), the fresh ones' events (the outbox, one statement) and
commits. A group that fails is written again one record at a time, so a record the database refuses fails alone and
its submitter retries it, as before; the others are recorded.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg

from libs.events import WorkloadSubmitted
from libs.events.topics import KUBE_CONNECTOR as PRODUCER
from libs.platform.unit_of_work import UnitOfWork, insert_outbox
from services.kube_connector import repository as repo

log = logging.getLogger("batchyard.kube_connector.intake")


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
        self.pool, self.namespace, self.group = pool, namespace, group
        self.waiting: list[tuple[Record, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        self.commits = 0  # transactions committed (a test and the curious read it)

    async def record(self, record: Record) -> bool:
        """Records one object; returns whether it was new (its event, if any, is then in the outbox)."""
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await done

    async def _write_all(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting[:self.group], self.waiting[self.group:]
            try:
                fresh = await self._write([r for r, _ in group])
            except Exception as exc:  # noqa: BLE001 - each record again alone: the one refused fails alone
                if len(group) > 1:
                    log.warning("intake: a group of %d records failed (%r); writing them one by one", len(group), exc)
                for record, done in group:
                    await self._write_alone(record, done)
                continue
            for record, done in group:
                if not done.done():
                    done.set_result(record.workload_id in fresh)

    async def _write_alone(self, record: Record, done: asyncio.Future) -> None:
        try:
            fresh = await self._write([record])
        except Exception as exc:  # noqa: BLE001 - its submitter decides (it retries what is transient)
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(record.workload_id in fresh)

    async def _write(self, records: list[Record]) -> set[str]:
        outbox: list[tuple] = []
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await repo.insert_workloads(conn, [r.row for r in records])
            for r in records:
                if r.event is not None and r.workload_id in fresh:
                    await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace,
                                     outbox_rows=outbox).emit(r.event, trace=r.trace)
            await insert_outbox(conn, outbox)
        self.commits += 1
        return fresh
