"""Quota's Prometheus metrics, named and labelled as Kueue's (``kueue_`` → ``batchyard_``; docs/observability.md).

Gauges are computed from the engine (pending per cluster queue, usage and quota per flavor and resource);
counters and the wait-time histogram are fed by one call per cycle and per eviction, and counted only once the
transaction that decided them has committed.
"""

from __future__ import annotations

from collections import Counter

from opentelemetry import metrics

from libs.platform.gauges import Gauges, NotNow, Sample
from libs.platform.unit_of_work import UnitOfWork
from libs.quota import CycleResult, QuotaEngine, Reason
from libs.quota.quantity import MILLI_RESOURCES

# Kueue's reason for an eviction the connector reports as "preempted"; other connector reasons (node-drain,
# node-reclaimed) have no Kueue name and keep batchyard's
EVICTION_REASONS = {"preempted": "Preempted"}
# every series starts at 0 so that dashboards and rate() see it before the first event
ZEROED_EVICTIONS = ("Preempted", Reason.PODS_READY_TIMEOUT.value, "node-drain")
ZEROED_PREEMPTIONS = (Reason.PREEMPTED_IN_CLUSTER_QUEUE, Reason.PREEMPTED_RECLAIM, Reason.PREEMPTED_FAIR_SHARING,
                      Reason.PREEMPTED_WHILE_BORROWING)

# Kueue's buckets: 1 s, then 2.5 s doubling (generateExponentialBuckets(14))
WAIT_BUCKETS = (1.0, *(2.5 * 2 ** i for i in range(13)))


def amount(resource: str, canonical: int) -> float:
    """Returns a canonical amount in the resource's base unit, as Kueue reports it (cpu in cores)."""
    return canonical / 1000 if resource in MILLI_RESOURCES else float(canonical)


class QuotaMetrics:
    """Kueue's cluster-queue metrics for one quota service (``engine`` returns the engine in force, or None)."""

    def __init__(self, engine) -> None:
        self._engine = engine  # () -> QuotaEngine | None: the live engine (None while it is being rebuilt)
        self.requeued_at: dict[str, float] = {}  # evicted workload -> when it was requeued (its wait starts there)
        self.preempted: set[str] = set()  # victims already counted, until they leave the engine's evicting set
        meter = metrics.get_meter("batchyard")
        self.reserved = meter.create_counter("batchyard_quota_reserved_workloads",
                                             description="Workloads that got a quota reservation, per cluster_queue")
        self.admitted = meter.create_counter("batchyard_admitted_workloads",
                                             description="Workloads admitted, per cluster_queue (no admission checks: "
                                                         "admitted when quota is reserved)")
        self.evictions = meter.create_counter("batchyard_evicted_workloads",
                                              description="Workloads evicted, per cluster_queue and reason")
        self.preemptions = meter.create_counter(
            "batchyard_preempted_workloads", description="Workloads preempted, per preempting_cluster_queue and reason")
        self.wait = meter.create_histogram("batchyard_admission_wait_time_seconds", unit="s",
                                           explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
                                           description="Time from creation or requeue to admission, per cluster_queue")
        self.gauges = Gauges()
        self.gauges.gauge("batchyard_pending_workloads", "Pending workloads per cluster_queue and status "
                          "(active: in the queue; inadmissible: waiting for quota to free)", self.pending)
        self.gauges.gauge("batchyard_reserving_active_workloads", "Workloads holding quota, per cluster_queue",
                          self.reserving)
        self.gauges.gauge("batchyard_cluster_queue_resource_usage", "Quota reserved per cluster_queue, flavor "
                          "and resource (cpu in cores, memory in bytes)", self.usage)
        self.gauges.gauge("batchyard_cluster_queue_nominal_quota", "Nominal quota per cluster_queue, flavor "
                          "and resource", self.quota("nominal"))
        self.gauges.gauge("batchyard_cluster_queue_borrowing_limit", "Borrowing limit per cluster_queue, flavor "
                          "and resource (only where one is set)", self.quota("borrowing_limit"))
        self.gauges.gauge("batchyard_cluster_queue_lending_limit", "Lending limit per cluster_queue, flavor "
                          "and resource (only where one is set)", self.quota("lending_limit"))

    def install(self, runtime) -> None:
        """Starts every counter of the engine's cluster queues at 0 and keeps the gauges fresh while it runs."""
        for cq in sorted(self.engine().pending):
            self._count([], [(cq, r.value) for r in ZEROED_PREEMPTIONS], [(cq, r) for r in ZEROED_EVICTIONS], by=0)
            for counter in (self.reserved, self.admitted):
                counter.add(0, {"cluster_queue": cq})
        runtime.watch(self.gauges)

    # -- gauges (run on the loop by Gauges) -------------------------------------------------------------
    def engine(self) -> QuotaEngine:
        engine = self._engine()
        if engine is None:
            raise NotNow("quota engine is being rebuilt")
        return engine

    def pending(self) -> list[Sample]:
        engine = self.engine()
        out = []
        for cq, queue in sorted(engine.pending.items()):
            inadmissible = sum(1 for wid in queue.inadmissible if wid in queue.entries)
            out += [(len(queue.entries) - inadmissible, {"cluster_queue": cq, "status": "active"}),
                    (inadmissible, {"cluster_queue": cq, "status": "inadmissible"})]
        return out

    def reserving(self) -> list[Sample]:
        engine = self.engine()
        return [(len(engine.admitted.get(cq, {})), {"cluster_queue": cq}) for cq in sorted(engine.pending)]

    def usage(self) -> list[Sample]:
        engine = self.engine()
        used: dict[tuple[str, str, str], int] = Counter()
        for cq, held in engine.admitted.items():
            for reservation in held.values():
                for (flavor, resource), n in reservation.admission.usage().items():
                    used[(cq, flavor, resource)] += n
        for cq, node in engine.tree.queues.items():  # every quota'd pair, so a queue at rest reports 0
            for flavor, resource in node.quotas:
                used.setdefault((cq, flavor, resource), 0)
        return [(amount(r, n), self._labels(engine, cq, f, r)) for (cq, f, r), n in sorted(used.items())]

    def quota(self, field: str):
        def compute() -> list[Sample]:
            engine = self.engine()
            return [(amount(r, getattr(q, field)), self._labels(engine, cq, f, r))
                    for cq, node in sorted(engine.tree.queues.items())
                    for (f, r), q in sorted(node.quotas.items()) if getattr(q, field) is not None]
        return compute

    @staticmethod
    def _labels(engine: QuotaEngine, cq: str, flavor: str, resource: str) -> dict[str, str]:
        node = engine.tree.queues.get(cq)
        cohort = node.parent.name if node is not None and node.parent is not None else ""
        return {"cohort": cohort, "cluster_queue": cq, "flavor": flavor, "resource": resource}

    # -- events (one call each from the handlers) -------------------------------------------------------
    def cycled(self, uow: UnitOfWork, result: CycleResult, engine: QuotaEngine, now: float) -> None:
        """Counts a cycle's reservations (with their wait), expiries and new preemption victims at commit."""
        waits = []
        for admitted in result.admitted:
            reservation = engine.reservations.get(admitted.workload_id)
            created = reservation.workload.created_at if reservation is not None else now
            waits.append((admitted.cluster_queue, now - max(created, self.requeued_at.pop(admitted.workload_id, 0))))
        for expired in result.expired:
            self.requeued_at[expired.workload_id] = now
        for gone in [wid for wid in self.requeued_at if engine.where(wid) is None]:  # finished or cancelled
            del self.requeued_at[gone]
        self.preempted &= engine.evicting
        victims = [(p.cluster_queue, t.reason.value) for p in result.preempting for t in p.targets
                   if t.workload_id not in self.preempted]
        self.preempted |= {t.workload_id for p in result.preempting for t in p.targets}
        expired = [(e.cluster_queue, Reason.PODS_READY_TIMEOUT.value) for e in result.expired]
        if waits or victims or expired:
            uow.after_commit(lambda: self._count(waits, victims, expired))

    def evicted(self, uow: UnitOfWork, workload_id: str, cluster_queue: str, reason: str, now: float) -> None:
        """Counts an eviction reported by the cluster side (reason as the connector gave it) at commit."""
        self.requeued_at[workload_id] = now
        reason = EVICTION_REASONS.get(reason, reason)
        uow.after_commit(lambda: self._count([], [], [(cluster_queue, reason)]))

    def _count(self, waits, victims, evictions, by: int = 1) -> None:
        for cq, seconds in waits:
            self.reserved.add(1, {"cluster_queue": cq})
            self.admitted.add(1, {"cluster_queue": cq})
            self.wait.record(max(0.0, seconds), {"cluster_queue": cq})
        for cq, reason in victims:
            self.preemptions.add(by, {"preempting_cluster_queue": cq, "reason": reason})
        for cq, reason in evictions:
            self.evictions.add(by, {"cluster_queue": cq, "reason": reason})
