"""Job objects in, submissions out: every new queue-labelled object (or BatchJob) is suspended, translated,
validated and submitted to admission, signed with the connector's key for its namespace's team.

An object is submitted once, ever: its uid is recorded in the same transaction as the outgoing
WorkloadSubmitted. An object batchyard cannot run gets the reason on its status (and an Event) instead.
A deleted object's workload is given up (WorkloadFailed, reason ``deleted``) so its quota and nodes return.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import asyncpg

from libs.events import Tenant, WorkloadFailed, WorkloadSubmitted
from libs.events.topics import KUBE_CONNECTOR as PRODUCER
from libs.platform import telemetry
from libs.platform.clock import SimClock
from libs.platform.periodic import spawn
from libs.platform.group_call import GroupCall
from libs.platform.unit_of_work import UnitOfWork, insert_outbox
from services.admission.signing import SigningError, TokenSigner
from services.kube_connector import repository as repo
from services.kube_connector import status
from services.kube_connector.api import KubeApi, KubeError, objects_path, q
from services.kube_connector.config import ConnectorConfig
from services.kube_connector.status import utc_now
from services.kube_connector.informer import DELETED, Informer
from services.kube_connector.kinds import KINDS, JobKind
from services.kube_connector.kinds.pod import PodGroups
from services.kube_connector.pods import batchjob_pod
from services.kube_connector.podsets import Invalid
from services.kube_connector.recorder import Record, Recorder
from services.kube_connector.rows import Rows
from services.kube_connector.translate import Submission, translate, workload_id

log = logging.getLogger("batchyard.kube_connector.intake")


class Intake:
    """Watches the configured job kinds and submits what is new."""

    def __init__(self, api: KubeApi, pool: asyncpg.Pool, config: ConnectorConfig, signer: TokenSigner,
                 clock: SimClock, namespace: str, *, on_submitted: Callable[[str], None],
                 on_emitted: Callable[[], None], now: Callable[[], float], workers: int = 16) -> None:
        self.api, self.pool, self.config, self.signer, self.clock = api, pool, config, signer, clock
        self.namespace, self.now = namespace, now
        self.on_submitted, self.on_emitted = on_submitted, on_emitted  # wake the status writer, the outbox relay
        self.informers: dict[str, Informer] = {}  # kind -> its informer (kinds whose CRD is installed)
        self.known: set[str] = set()  # uids already recorded
        self.queue: asyncio.Queue[tuple[JobKind, str, dict]] = asyncio.Queue()
        self.latest: dict[str, tuple[JobKind, str, dict]] = {}  # uid -> its newest change not yet handled
        self.busy: set[str] = set()  # uids being handled now
        self.slots = asyncio.Semaphore(workers)  # objects handled at once
        self.validated: set[tuple[str, str]] = set()  # (namespace, pod digest) the API server already accepted
        self._tasks: set[asyncio.Task] = set()
        self.by_name: dict[tuple[str, str, str], dict] = {}  # (kind, namespace, name) -> latest object
        self.on_object: Callable[[str, str, str], None] = lambda kind, ns, name: None  # an object changed
        self.recorder = Recorder(pool, namespace)
        self._deletions = GroupCall(self._end_deleted, name="intake deletions")

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        """Returns the latest copy of an object, as watched (None: not seen, or deleted)."""
        return self.by_name.get((kind, namespace, name))

    def _seen(self, kind: JobKind, change: str, obj: dict) -> None:
        key = (kind.kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
        if change == DELETED:
            self.by_name.pop(key, None)
        else:
            self.by_name[key] = obj
        self.queue.put_nowait((kind, change, obj))
        self.on_object(*key)

    async def loops(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """Loads what was submitted before; returns the intake's loops, named: one per kind (each waits until the
        API server serves its kind, then watches it) and the intake itself."""
        async with self.pool.acquire() as conn:
            self.known = await repo.known_uids(conn)
        watches = [(f"{name} watch", partial(self._watch, KINDS[name])) for name in self.config.kinds]
        return [*watches, ("intake", self.run)]

    async def _watch(self, kind: JobKind, *, recheck_s: float = 60.0) -> None:
        """Watches ``kind`` once the API server serves it (a CRD installed later is picked up within a minute)."""
        told = False
        while not await self._served(kind):
            if not told:
                log.warning("%s (%s) is not served by the API server (its CRD is not installed); checking again "
                            "every %.0fs", kind.kind, kind.api_version, recheck_s)
                told = True
            await asyncio.sleep(recheck_s)
        def seen(change: str, obj: dict) -> None:
            self._seen(kind, change, obj)

        exists = (lambda namespace, name: (kind.kind, namespace, name) in self.by_name)
        if kind.kind == "Pod":  # pods are gathered into their groups first: a group is the object
            groups = PodGroups()
            exists = (lambda namespace, name: bool(groups.pods.get((namespace, name))))

            def seen(change: str, pod: dict) -> None:  # noqa: F811 - the Pod kind's own callback
                if (group := groups.changed(change, pod)) is not None:
                    self._seen(kind, *group)
        informer = Informer(self.api, objects_path(kind.group, kind.version, kind.plural), seen,
                            name=f"{kind.kind} informer", query=kind.watch_query)
        self.informers[kind.kind] = informer
        sweep = asyncio.create_task(self._sweep(kind, informer, exists))
        try:
            await informer.run()
        finally:
            sweep.cancel()

    async def _sweep(self, kind: JobKind, informer: Informer, exists: Callable[[str, str], bool]) -> None:
        """Once the first list is in: ends the workloads whose objects were deleted while no connector watched
        (their DELETED events were never seen)."""
        await informer.synced.wait()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("select namespace, name, uid from workloads where kind = $1 and "
                                    "phase <> all($2::text[])", kind.kind, list(repo.ENDED))
        gone = [r for r in rows if not exists(r["namespace"], r["name"])]
        for r in gone:
            meta = {"namespace": r["namespace"], "name": r["name"], "uid": r["uid"]}
            self.queue.put_nowait((kind, DELETED, {"metadata": meta}))
        if gone:
            log.info("%s: %d workloads' objects were deleted while the connector was away; ending them",
                     kind.kind, len(gone))

    async def _served(self, kind: JobKind) -> bool:
        """Returns whether the API server serves ``kind``; waits while it cannot be asked."""
        base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        backoff = 0.2
        while True:
            try:
                resources = await self.api.request("GET", base)
                return any(r.get("name") == kind.plural for r in resources.get("resources") or ())
            except KubeError as exc:
                if exc.not_found:
                    return False
                log.warning("discovery of %s: %s; retrying", kind.kind, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def run(self) -> None:
        """Takes each object's latest change and handles objects concurrently (one change of an object at a time:
        only its latest state matters, so changes that queued up meanwhile are folded into one)."""
        while True:
            kind, change, obj = await self.queue.get()
            uid = obj["metadata"]["uid"]
            self.latest[uid] = (kind, change, obj)
            if uid not in self.busy:
                self.busy.add(uid)
                spawn(self._tasks, self._work(uid))

    async def _work(self, uid: str) -> None:
        try:
            while uid in self.latest:
                kind, change, obj = self.latest.pop(uid)
                try:
                    async with self.slots:
                        await self._handle(kind, change, obj)
                except (KubeError, OSError, asyncpg.PostgresError) as exc:
                    if isinstance(exc, KubeError) and exc.not_found:
                        continue  # deleted meanwhile: its DELETED event follows
                    log.warning("%s %s/%s: %s; retrying", kind.kind, obj["metadata"].get("namespace"),
                                obj["metadata"].get("name"), exc)
                    await asyncio.sleep(1)
                    self.latest.setdefault(uid, (kind, change, obj))  # unless a newer change came meanwhile
        finally:
            self.busy.discard(uid)

    async def _handle(self, kind: JobKind, change: str, obj: dict) -> None:
        if change == DELETED:
            await self.forget(kind, obj)
        elif obj["metadata"]["uid"] not in self.known and kind.managed(obj):
            await self.submit(kind, obj)

    async def submit(self, kind: JobKind, obj: dict) -> None:
        """Suspends, translates, validates and submits one new object (or records why it cannot run)."""
        meta = obj["metadata"]
        if kind.suspendable and not kind.suspended(obj):
            await self.api.patch(f"{objects_path(kind.group, kind.version, kind.plural, meta['namespace'])}/"
                                 f"{q(meta['name'])}", kind.suspend_patch(True))
        try:
            submission = translate(kind, obj, self.config)
            if kind.creates_pods:
                await self._validate_pods(obj, submission)
            submitted = self._signed(submission)
        except Invalid as problem:
            await self._record(kind, obj, None, status.invalid(problem.reason, problem.message))
            return
        await self._record(kind, obj, submission, status.submitted(), submitted)

    def _signed(self, s: Submission) -> WorkloadSubmitted:
        queues = [s.spec.queue] if s.spec.queue else None
        try:
            token = self.signer.token(s.tenant.org, s.tenant.team, queues)
        except (SigningError, ValueError) as exc:
            raise Invalid("no_signing_key", f"the connector cannot sign for {s.tenant}: {exc}") from None
        return WorkloadSubmitted(workload_id=s.workload_id, tenant=s.tenant, spec=s.spec, token=token,
                                 producer=PRODUCER, occurred_at=self.clock.sim_at(self.now()))

    async def _validate_pods(self, obj: dict, submission: Submission) -> None:
        """Asks the API server to validate one pod per pod set (a dry run): a bad template is refused now, with the
        server's own words, rather than when its pods are created."""
        meta = obj["metadata"]
        for ps in submission.spec.pod_sets:
            template = submission.templates[ps.name]
            key = (meta["namespace"], hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest())
            if key in self.validated:  # the same template was accepted in this namespace: no need to ask again
                continue
            pod = batchjob_pod(meta, template, {"pod_set": ps.name, "index": 0},
                               attempt=0, workload_label="dry-run", scheduler_name=self.config.scheduler_name)
            try:
                await self.api.create(f"/api/v1/namespaces/{q(meta['namespace'])}/pods", pod, dry_run=True)
            except KubeError as exc:
                if exc.status in (400, 422):
                    raise Invalid("invalid_pod_template", f"pod set {ps.name}: {exc.message}") from None
                raise
            if len(self.validated) > 10_000:
                self.validated.clear()
            self.validated.add(key)

    async def _record(self, kind: JobKind, obj: dict, submission: Submission | None, change: status.Change,
                      event: WorkloadSubmitted | None = None) -> None:
        meta = obj["metadata"]
        wid = submission.workload_id if submission else workload_id(self.config.cluster, obj)
        tenant = submission.tenant if submission else self.config.tenant_of(meta["namespace"])
        with telemetry.produce_span(PRODUCER, "WorkloadSubmitted"):
            trace = telemetry.inject()
        row = repo.new_workload(
            workload_id=wid, kind=kind.kind, meta=meta, org=tenant.org if tenant else None,
            team=tenant.team if tenant else None, templates=submission.templates if submission else {},
            pod_count=submission.spec.pod_count if submission else 0, phase="submitted" if event else "invalid",
            change=change, now=utc_now(), trace=json.dumps(trace))
        await self.recorder.record(Record(row, event, trace))  # with the objects submitted meanwhile: one commit
        self.known.add(meta["uid"])
        self.on_submitted(wid)
        self.on_emitted()

    async def forget(self, kind: JobKind, obj: dict) -> None:
        """The object is gone: its workload ends (``deleted``) unless it had ended already. Deletions handled at
        once (a namespace emptied, or thousands found gone at start) share one transaction."""
        await self._deletions(Gone(workload_id(self.config.cluster, obj), f"{kind.kind} {obj['metadata']['name']} "
                                   "was deleted"))
        self.on_emitted()

    async def _end_deleted(self, gone: list[Gone]) -> list[bool]:
        """Ends every workload of ``gone`` that has not ended, in one transaction: the rows read, locked and
        written once, the failures of those admission had answered in one outbox statement. Returns, per item,
        whether its workload ended now."""
        ended: list[bool] = []
        outbox: list[tuple] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await Rows.load(conn, [g.workload_id for g in gone])
            now = utc_now()
            for g in gone:
                row = rows.get(g.workload_id)
                ended.append(row is not None and row.phase not in repo.ENDED)
                if not ended[-1]:
                    continue
                rows.transition(g.workload_id, status.deleted(), now=now, phase="deleted")
                if row.phase != "submitted":  # admission has not answered yet: a placement, if any, is refused later
                    tenant = Tenant(org=row.org, team=row.team) if row.org else None
                    event = WorkloadFailed(workload_id=g.workload_id, tenant=tenant, cluster=self.config.cluster,
                                           reason="deleted", message=g.message,
                                           occurred_at=self.clock.sim_at(self.now()))
                    await UnitOfWork(conn=conn, producer=PRODUCER, namespace=self.namespace,
                                     outbox_rows=outbox).emit(event, trace=row.trace)
            await rows.flush(conn)
            await insert_outbox(conn, outbox)
        return ended


@dataclass(frozen=True)
class Gone:
    """A deleted object's workload, and what its failure says (``Intake.forget``)."""

    workload_id: str
    message: str
