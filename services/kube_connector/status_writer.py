"""Writes each workload's status back onto its object, with a Kubernetes Event for every change.

A BatchJob gets ``status`` (the status subresource); other kinds get ``batchyard.dev/*`` annotations. Each
patch names the object's uid, so a namesake created after a deletion is never written to. Status versions
and Events are marked written only after the API server took them; Event names are fixed per change, so
a retry after a crash makes no duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable

import asyncpg

from libs.platform.periodic import woken
from services.kube_connector import repository as repo
from services.kube_connector.api import KubeApi, KubeError, objects_path, q
from services.kube_connector.status import utc_now
from services.kube_connector.kinds import KINDS
from services.kube_connector.status import annotations_of

log = logging.getLogger("batchyard.kube_connector.status")
COMPONENT = "batchyard-kube-connector"


class StatusWriter:
    def __init__(self, api: KubeApi, pool: asyncpg.Pool, *, instance: str, now: Callable[[], str] = utc_now,
                 period_s: float = 1.0) -> None:
        self.api, self.pool, self.instance, self.now, self.period_s = api, pool, instance, now, period_s
        self.wake = asyncio.Event()

    def touch(self, _workload_id: str = "") -> None:
        self.wake.set()

    async def run(self) -> None:
        while True:
            await woken(self.wake, self.period_s)
            try:
                await self.write_pending()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("status writer: %r; retrying", exc)

    async def write_pending(self) -> int:
        """Writes every status not yet on its object; returns how many it wrote (recorded in one round trip)."""
        async with self.pool.acquire() as conn:
            rows = await repo.unwritten(conn)
        results = await asyncio.gather(*(self._write(r) for r in rows), return_exceptions=True)
        done = []
        for row, result in zip(rows, results):
            if isinstance(result, Exception):
                log.warning("status of %s: %r; retrying", row["workload_id"], result)
                self.wake.set()
            else:
                done.append(result)
        if done:
            async with self.pool.acquire() as conn:
                await repo.mark_written(conn, done)
        return len(done)

    async def _write(self, row: asyncpg.Record) -> tuple[str, int, int]:
        """Writes one workload's status and Events; returns (workload id, status version, Events sent)."""
        kind = KINDS[row["kind"]]
        status, notices = json.loads(row["status"]), json.loads(row["notices"])
        path = f"{objects_path(kind.group, kind.version, kind.plural, row['namespace'])}/{q(row['name'])}"
        if not kind.writes_status:  # only warnings, as Events on the object's first pod
            notices = [n for n in notices if n["type"] == "Warning"]
        try:
            if not kind.writes_status:
                pass
            elif kind.creates_pods:
                await self.api.patch(f"{path}/status", {"metadata": {"uid": row["uid"]}, "status": status},
                                     background=True)
            else:
                await self.api.patch(path, {"metadata": {"uid": row["uid"], "annotations": annotations_of(status)}},
                                     background=True)
            for notice in notices:
                await self._event(kind.api_version, kind.kind, row, notice)
        except KubeError as exc:
            if not (exc.not_found or exc.conflict):  # gone, or a namesake with another uid: nothing to write to
                raise
        return row["workload_id"], row["status_version"], len(notices)

    async def _event(self, api_version: str, kind: str, row: asyncpg.Record, notice: dict) -> None:
        digest = hashlib.sha256(f"{row['uid']}/{notice['reason']}/{notice['message']}".encode()).hexdigest()[:16]
        now = self.now()
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{row['name'][:200]}.{digest}", "namespace": row["namespace"]},
                "involvedObject": {"apiVersion": api_version, "kind": kind, "name": row["name"],
                                   "namespace": row["namespace"], "uid": row["uid"]},
                "type": notice["type"], "reason": notice["reason"], "message": notice["message"],
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": self.instance[:128], "firstTimestamp": now, "lastTimestamp": now, "count": 1}
        try:
            await self.api.create(f"/api/v1/namespaces/{q(row['namespace'])}/events", body, background=True)
        except KubeError as exc:
            if not exc.conflict:
                raise
