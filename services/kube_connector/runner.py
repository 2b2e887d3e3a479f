"""The workload reconciler: makes each placed workload's pods exist and sit on their nodes, reports their
phases back (running, succeeded, failed), and carries out evictions.

Level-triggered, like a controller: a workload is looked at again whenever one of its pods or its object
changes, when a handler placed or preempted it, and periodically: every ``resync_s`` while it waits for its pods
(placed) or its eviction, every ``resync_running_s`` once it runs (its pods' and object's watches report how it
ends; the resync is only the safety net, and looking at thousands of running workloads every few seconds
crowded out the binds of new ones). Every step is safe to repeat: pods
have fixed names per attempt (AlreadyExists is success), a pod already bound to its node is success, and
lifecycle events are emitted in the same transaction as the phase change that allows them once.

The reconciles in flight share their database work (group commit, ``libs.platform.group_call``): the rows they
start from are read in one statement, and the phase changes they make, with their events, are committed in one
transaction. A thousand workloads binding at once cost a few reads and commits, not two thousand round trips.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from libs.events import Event, Tenant, WorkloadEvicted, WorkloadFailed, WorkloadRunning, WorkloadSucceeded, failure
from libs.platform.clock import SimClock
from libs.platform.group_call import GroupCall
from libs.platform.periodic import spawn, woken
from libs.platform.unit_of_work import UnitOfWork, insert_outbox
from services.kube_connector import repository as repo
from services.kube_connector import status
from services.kube_connector.api import KubeApi, KubeError, objects_path, q
from services.kube_connector.status import utc_now
from services.kube_connector.intake import PRODUCER, Intake
from services.kube_connector.kinds import KINDS
from services.kube_connector.kinds.batchjob import ATTEMPT_LABEL
from services.kube_connector.pod_index import PodIndex
from services.kube_connector.pods import batchjob_pod, bindings, live, node_name
from services.kube_connector.rows import Rows
from services.kube_connector.translate import label_value

log = logging.getLogger("batchyard.kube_connector.runner")


class WorkloadRunner:
    def __init__(self, api: KubeApi, pool: asyncpg.Pool, intake: Intake, pods: PodIndex, *, cluster: str,
                 scheduler_name: str, clock: SimClock, namespace: str, on_emitted: Callable[[], None],
                 now: Callable[[], float], resync_s: float = 5.0, resync_running_s: float = 60.0,
                 workers: int = 64) -> None:
        self.api, self.pool, self.intake, self.pods = api, pool, intake, pods
        self.cluster, self.scheduler_name, self.clock, self.namespace = cluster, scheduler_name, clock, namespace
        self.on_emitted, self.now, self.resync_s, self.resync_running_s = on_emitted, now, resync_s, resync_running_s
        self._running_resynced: float | None = None  # monotonic time of the last resync with running workloads
        self.dirty: set[str] = set()  # workloads to look at
        self.in_flight: set[str] = set()  # workloads being looked at now (one reconcile per workload at a time)
        self.owners: dict[tuple[str, str], str] = {}  # (namespace, object name) -> active workload id
        self.wake = asyncio.Event()
        self.slots = asyncio.Semaphore(workers)  # reconciles at once
        self._tasks: set[asyncio.Task] = set()
        self._reads = GroupCall(self._read_rows, name="reconciler reads")
        self._moves = GroupCall(self._move_rows, name="reconciler phase changes")

    def touch(self, workload_id: str) -> None:
        self.dirty.add(workload_id)
        self.wake.set()

    def touch_owner(self, namespace: str, name: str) -> None:
        if wid := self.owners.get((namespace, name)):
            self.touch(wid)

    async def run(self) -> None:
        last_resync = 0.0
        while True:
            await woken(self.wake, self.resync_s)
            if time.monotonic() - last_resync >= self.resync_s:  # however busy, every workload is looked at again
                last_resync = time.monotonic()
                await self._resync()
            for wid in self.dirty - self.in_flight:  # pipelined: a slow workload holds up no other
                self.dirty.discard(wid)
                self.in_flight.add(wid)
                spawn(self._tasks, self._one(wid))

    async def _one(self, workload_id: str) -> None:
        try:
            async with self.slots:
                await self.reconcile(workload_id)
        except Exception as exc:  # noqa: BLE001 - an API or database hiccup: looked at again shortly
            log.warning("workload %s: %r; retrying", workload_id, exc)
            self.dirty.add(workload_id)
            await asyncio.sleep(0.5)
        finally:
            self.in_flight.discard(workload_id)
            if workload_id in self.dirty:  # touched while in flight, or failed: once more
                self.wake.set()

    async def _resync(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await repo.active(conn)
        self.owners = {(r.namespace, r.name): r.workload_id for r in rows}
        running_too = self._running_resynced is None or \
            time.monotonic() - self._running_resynced >= self.resync_running_s
        if running_too:
            self._running_resynced = time.monotonic()
        self.dirty.update(r.workload_id for r in rows if running_too or r.phase != "running")

    async def reconcile(self, workload_id: str) -> None:
        row = await self._reads(workload_id)
        if row is None or row.phase not in repo.ACTIVE:
            return
        self.owners[(row.namespace, row.name)] = row.workload_id
        if row.phase == "evicting":
            await self._evict(row)
            return
        await self._bind(row)
        await self._report(row)

    def _pods(self, row: repo.WorkloadRow) -> list[dict]:
        pods = self.pods.of(row.namespace, row.name, KINDS[row.kind])
        if row.kind == "BatchJob":
            pods = [p for p in pods if p["metadata"]["labels"].get(ATTEMPT_LABEL) == str(row.attempt)]
        return pods

    # -- binding ---------------------------------------------------------------------------------------------

    async def _bind(self, row: repo.WorkloadRow) -> None:
        kind, pods = KINDS[row.kind], self._pods(row)
        if kind.creates_pods:
            await self._create_pods(row, {p["metadata"]["name"] for p in pods})
            pods = self._pods(row)
        else:
            await self._resume(row)
        await asyncio.gather(*(self._bind_one(pod, node) for pod, node in bindings(kind, row.assignments, pods)))

    async def _create_pods(self, row: repo.WorkloadRow, existing: set[str]) -> None:
        obj = self.intake.find(row.kind, row.namespace, row.name)
        if obj is None or obj["metadata"]["uid"] != row.uid:
            return  # deleted (or replaced by a namesake): its DELETED event ends the workload
        made = [batchjob_pod(obj["metadata"], row.templates[a["pod_set"]], a, attempt=row.attempt,
                             workload_label=label_value(row.workload_id), scheduler_name=self.scheduler_name)
                for a in row.assignments]
        todo = [p for p in made if p["metadata"]["name"] not in existing]
        results = await asyncio.gather(*(self.api.create(f"/api/v1/namespaces/{q(row.namespace)}/pods", p)
                                         for p in todo), return_exceptions=True)
        for pod, result in zip(todo, results):
            if isinstance(result, dict):
                self.pods.put(result)  # bind it now rather than after the watch brings it back
            elif not (isinstance(result, KubeError) and result.conflict):
                raise result

    async def _resume(self, row: repo.WorkloadRow) -> None:
        kind = KINDS[row.kind]
        obj = self.intake.find(row.kind, row.namespace, row.name)
        if kind.suspendable and obj is not None and kind.suspended(obj):
            await self.api.patch(f"{objects_path(kind.group, kind.version, kind.plural, row.namespace)}/"
                                 f"{q(row.name)}", kind.suspend_patch(False))

    async def _bind_one(self, pod: dict, node: str) -> None:
        meta = pod["metadata"]
        try:
            await self.api.bind(meta["namespace"], meta["name"], node)
        except KubeError as exc:
            if not exc.conflict:  # 409: bound already (a retry, or a restart), which is what we wanted
                raise

    # -- reporting -------------------------------------------------------------------------------------------

    async def _report(self, row: repo.WorkloadRow) -> None:
        kind, pods = KINDS[row.kind], self._pods(row)
        phases = [(p.get("status") or {}).get("phase") for p in pods if p["spec"].get("nodeName")]
        wanted = len(row.assignments)
        outcome = None
        if kind.outcome_from_pods:
            failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
            if failed:
                outcome = ("failed", _failure(failed[0]))
            elif wanted and phases.count("Succeeded") >= wanted:
                outcome = ("succeeded", f"all {wanted} pods succeeded")
        else:
            obj = self.intake.find(row.kind, row.namespace, row.name)
            ended = kind.outcome(obj) if obj is not None else None
            if ended:
                outcome = (ended, f"{row.kind} {row.name} {'completed' if ended == 'succeeded' else 'failed'}")
        if outcome is not None:
            await self._finish(row, *outcome)
        elif row.phase == "placed" and wanted and phases.count("Running") + phases.count("Succeeded") >= wanted:
            await self._emit(row, WorkloadRunning(cluster=self.cluster), status.running(wanted), "running",
                             ("placed",))

    async def _finish(self, row: repo.WorkloadRow, outcome: str, message: str) -> None:
        """Reports a run's end. A failed BatchJob run within its backoff limit is retried: its pods are deleted,
        it waits (phase evicted) for quota to reserve it again, and the next attempt's pods are new. Other kinds'
        failures are final: their own controller has retried (a Job's backoffLimit) before it says failed."""
        kind = KINDS[row.kind]
        if outcome == "succeeded":
            await self._emit(row, WorkloadSucceeded(cluster=self.cluster), status.finished(True, message), outcome,
                             ("placed", "running"))
            return
        event = failure("pod-failed", message, cluster=self.cluster, failures=row.failures,
                        backoff_limit=row.backoff_limit if kind.creates_pods else 0)
        if kind.creates_pods:  # a gang with a failed pod is over: stop the rest
            await self._delete_pods(row)
        if event.final:
            await self._emit(row, event, status.finished(False, message), "failed", ("placed", "running"))
        else:
            await self._emit(row, event, status.retrying(event.attempt, row.backoff_limit, message), "evicted",
                             ("placed", "running"))

    async def _delete_pods(self, row: repo.WorkloadRow) -> None:
        for pod in self._pods(row):
            if live(pod):
                try:
                    await self.api.delete(f"/api/v1/namespaces/{q(row.namespace)}/pods/{q(pod['metadata']['name'])}")
                except KubeError as exc:
                    if not exc.not_found:
                        raise

    # -- eviction --------------------------------------------------------------------------------------------

    async def _evict(self, row: repo.WorkloadRow) -> None:
        """Suspends the object (so its controller makes no new pods) and evicts every live pod; once none is
        left, reports the workload evicted (quota requeues it). A cancelled workload's pods are deleted (no
        disruption budget holds a cancel back) and it is reported failed, reason cancelled: it is over. A suspended
        one is stopped the same way and reported evicted, reason suspended: a resume queues it again."""
        if row.evict_reason in ("cancelled", "suspended"):
            await self._cancel(row)
            return
        kind = KINDS[row.kind]
        obj = self.intake.find(row.kind, row.namespace, row.name)
        if kind.suspendable and obj is not None and not kind.suspended(obj):
            await self.api.patch(f"{objects_path(kind.group, kind.version, kind.plural, row.namespace)}/"
                                 f"{q(row.name)}", kind.suspend_patch(True))
        remaining = [p for p in self.pods.of(row.namespace, row.name, kind) if live(p)]
        for pod in remaining:
            try:
                await self.api.evict(row.namespace, pod["metadata"]["name"])
            except KubeError as exc:
                if exc.status == 429:  # a PodDisruptionBudget says not now: try again later
                    self.dirty.add(row.workload_id)
                elif not exc.not_found:
                    raise
        if remaining:
            return  # done once the watch shows them gone
        reason, message = row.evict_reason or "preempted", row.evict_message or "evicted"
        nodes = sorted({node_name(a["node_id"]) for a in row.assignments})
        if not kind.requeue_after_eviction:  # its pods are gone for good: the workload is over, not requeued
            await self._emit(row, WorkloadFailed(cluster=self.cluster, reason="evicted", message=message[:2000]),
                             status.finished(False, f"evicted ({reason}): {message}"), "failed", ("evicting",))
            return
        await self._emit(row, WorkloadEvicted(cluster=self.cluster, reason=reason, message=message[:2000]),
                         status.evicted(reason, f"{message} (was on {', '.join(nodes[:8])})"), "evicted",
                         ("evicting",))

    async def _cancel(self, row: repo.WorkloadRow) -> None:
        kind = KINDS[row.kind]
        obj = self.intake.find(row.kind, row.namespace, row.name)
        if kind.suspendable and obj is not None and not kind.suspended(obj):
            await self.api.patch(f"{objects_path(kind.group, kind.version, kind.plural, row.namespace)}/"
                                 f"{q(row.name)}", kind.suspend_patch(True))
        remaining = [p for p in self.pods.of(row.namespace, row.name, kind) if live(p)]
        await asyncio.gather(*(self._delete_pod(row.namespace, p["metadata"]["name"]) for p in remaining))
        if remaining:
            return  # done once the watch shows them gone
        if row.evict_reason == "suspended":
            message = row.evict_message or "suspended"
            await self._emit(row, WorkloadEvicted(cluster=self.cluster, reason="suspended", message=message[:2000]),
                             status.suspended(message), "evicted", ("evicting",))
            return
        message = row.evict_message or "cancelled"
        await self._emit(row, WorkloadFailed(cluster=self.cluster, reason="cancelled", message=message[:2000]),
                         status.cancelled(message), "failed", ("evicting",))

    async def _delete_pod(self, namespace: str, name: str) -> None:
        try:
            await self.api.delete(f"/api/v1/namespaces/{q(namespace)}/pods/{q(name)}")
        except KubeError as exc:
            if not exc.not_found:
                raise

    async def _emit(self, row: repo.WorkloadRow, event: Event, change: status.Change, phase: str,
                    only_from: tuple[str, ...]) -> None:
        """Moves the workload to ``phase`` and emits ``event`` in one transaction (once: only from ``only_from``)."""
        tenant = Tenant(org=row.org, team=row.team) if row.org else None
        stamped = event.model_copy(update={"workload_id": row.workload_id, "tenant": tenant,
                                           "occurred_at": self.clock.sim_at(self.now())})
        await self._moves(Move(row, stamped, change, phase, only_from))
        self.on_emitted()

    async def _read_rows(self, workload_ids: list[str]) -> list[repo.WorkloadRow | None]:
        async with self.pool.acquire() as conn:
            rows = await repo.get_many(conn, workload_ids)
        return [rows.get(wid) for wid in workload_ids]

    async def _move_rows(self, moves: list[Move]) -> list[bool]:
        """Makes every move it can in one transaction: the rows locked and written once, the events of those that
        moved in one outbox statement; returns, per move, whether its workload moved."""
        moved: list[bool] = []
        outbox: list[tuple] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await Rows.load(conn, [m.row.workload_id for m in moves])
            now = utc_now()
            for m in moves:
                moved.append(rows.transition(m.row.workload_id, m.change, now=now, phase=m.phase,
                                             only_from=m.only_from))
                if moved[-1]:
                    await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace,
                                     outbox_rows=outbox).emit(m.event, trace=m.row.trace)
            await rows.flush(conn)
            await insert_outbox(conn, outbox)
        return moved


@dataclass(frozen=True)
class Move:
    """A workload's phase change with the event it allows (``WorkloadRunner._emit``)."""

    row: repo.WorkloadRow
    event: Event
    change: status.Change
    phase: str
    only_from: tuple[str, ...]


def _failure(pod: dict) -> str:
    """Returns why a pod failed, in words (its first terminated container's reason and exit code)."""
    for c in (pod.get("status") or {}).get("containerStatuses") or ():
        done = (c.get("state") or {}).get("terminated")
        if done:
            return (f"pod {pod['metadata']['name']} failed: container {c.get('name')} exited "
                    f"{done.get('exitCode')} ({done.get('reason') or 'Error'})")
    return f"pod {pod['metadata']['name']} failed: {(pod.get('status') or {}).get('reason') or 'unknown reason'}"
