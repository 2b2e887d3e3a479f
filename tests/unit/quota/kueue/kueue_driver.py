"""A cycle-by-cycle driver for Kueue's upstream cases, through the quota core's public API.

A case builds its world (flavors, cohorts, cluster queues, running workloads), submits the
incoming workloads, and then asserts:
- the first scheduling cycle: who is admitted, with which flavors and counts, and which victims
  are named with which reason (``Driver.cycle``);
- the final state, after the connector evicted every victim and the evicted workloads were
  requeued with backoff (``Driver.settle``): who holds quota and who waits.

Evicted workloads back off for a very long time here, so they cannot come straight back and
blur the final state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from libs.quota import (Admission, CycleResult, FairPreemptionStrategy, PodSetAssignment, QuotaConfig,
                        QuotaEngine, Reason, ResourceFlavor, Timing, Why, Workload)
from libs.quota.builders import make_cluster_queue, make_cohort, make_workload
from libs.quota.config import ClusterQueueSpec, CohortSpec, LocalQueue

NEVER_BACK = Timing(backoff_base_seconds=10**9, backoff_max_seconds=10**9)


def cq(name: str, cohort: str | None = None, *, within="Never", reclaim="Never", borrow="Never",
       threshold=None, weight: float = 1.0, flavors=(), strategy="BestEffortFIFO", fungibility=None,
       afs: bool = False) -> ClusterQueueSpec:
    """Returns a cluster queue; ``flavors`` is [(flavor, {resource: quota}), ...] in order."""
    b = make_cluster_queue(name).cohort(cohort).preemption(within, reclaim, borrow, threshold).weight(weight)
    b.strategy(strategy).admission_fair_sharing(afs)
    for flavor, quotas in flavors:
        b.flavor(flavor, **quotas)
    if fungibility is not None:
        b.fungibility(*fungibility)
    return b.obj()


def cohort(name: str, parent: str | None = None, *, weight: float = 1.0, flavors=()) -> CohortSpec:
    b = make_cohort(name).parent(parent).weight(weight)
    for flavor, quotas in flavors:
        b.flavor(flavor, **quotas)
    return b.obj()


def wl(name: str, *, p: int = 0, created: float = 0.0, count: int = 1, queue: str | None = None,
       **requests) -> Workload:
    """Returns a one-pod-set workload (``queue`` is set when submitted or reserved)."""
    return make_workload(name).priority(p).created(created).count(count).request(**requests).queue(queue or "").obj()


@dataclass
class Driver:
    """The engine under test plus the clock; ``now`` advances one second per cycle."""

    queues: tuple[ClusterQueueSpec, ...]
    cohorts: tuple[CohortSpec, ...] = ()
    flavors: tuple[ResourceFlavor, ...] = ()
    fair: bool = False
    strategies: tuple = ()
    config_kw: dict = field(default_factory=dict)
    local_queues: tuple[LocalQueue, ...] = ()  # more local queues (each queue gets one named after it)
    now: float = 100.0
    engine: QuotaEngine = field(init=False)

    def __post_init__(self) -> None:
        names = {fq.flavor for s in (*self.queues, *self.cohorts) for g in s.resource_groups for fq in g.flavors}
        flavors = {f.name: f for f in self.flavors} | {n: ResourceFlavor(n) for n in names
                                                          if n not in {f.name for f in self.flavors}}
        extra = ({"fair_preemption_strategies": tuple(FairPreemptionStrategy(s) for s in self.strategies)}
                 if self.strategies else {})
        config = QuotaConfig.build(
            flavors=flavors.values(), cohorts=self.cohorts, cluster_queues=self.queues,
            local_queues=[LocalQueue("default", q.name, q.name) for q in self.queues] + list(self.local_queues),
            fair_sharing=self.fair, timing=self.config_kw.pop("timing", NEVER_BACK), **extra, **self.config_kw)
        self.engine = QuotaEngine(config)

    def running(self, workload: Workload, queue: str, flavor: str | None = None, at: float = 0.0,
                evicting: bool = False, **per_resource: str) -> "Driver":
        """Reserves ``workload`` in cluster queue ``queue`` as if admitted earlier (each resource in ``flavor``, or
        the queue's first flavor covering it; ``per_resource`` overrides one resource)."""
        workload = replace(workload, queue_name=workload.queue_name or queue)  # its local queue, if given
        spec = self.engine.config.cluster_queues[queue]
        pod_sets = []
        for ps in workload.pod_sets:
            chosen = {r: per_resource.get(r.replace("/", "_").replace(".", "_"), flavor or _first_flavor(spec, r))
                      for r in ps.requests}
            usage = {(f, r): ps.total(r) for r, f in chosen.items()}
            pod_sets.append(PodSetAssignment(ps.name, chosen, usage, ps.count))
        self.engine.reserve(workload, Admission(queue, tuple(pod_sets)), at)
        if evicting:
            self.engine.evicting.add(workload.id)
        return self

    def submit(self, workload: Workload, queue: str) -> "Driver":
        """Queues ``workload`` through local queue ``queue`` (namespace "default")."""
        self.engine.add_workload(replace(workload, queue_name=queue), self.now)
        return self

    def reconfigure(self, queues, cohorts=()) -> None:
        """Applies a new configuration (hot reload), keeping reservations and pending workloads."""
        fresh = Driver(tuple(queues), tuple(cohorts), self.flavors, self.fair, self.strategies,
                       dict(self.config_kw), self.local_queues)
        self.engine.apply_config(fresh.engine.config, self.now)

    def finish(self, *workload_ids: str) -> "Driver":
        """The workloads completed: their quota is released."""
        for wid in workload_ids:
            assert self.engine.finish(wid), wid
        return self

    def cycle(self) -> CycleResult:
        result = self.engine.run_cycle(self.now)
        self.now += 1.0
        return result

    def settle(self, limit: int = 30) -> list[CycleResult]:
        """Plays the connector: evicts every victim after each cycle, until a cycle decides nothing new."""
        results = []
        for _ in range(limit):
            for wid in sorted(self.engine.evicting):
                self.engine.evict(wid, Why(Reason.EVICTED, "preempted"), self.now)
            result = self.cycle()
            results.append(result)
            if not result.admitted and not result.preempting and not self.engine.evicting:
                return results
        raise AssertionError("did not settle")

    # -- reading the outcome ----------------------------------------------------------------

    def reserved(self) -> dict[str, str]:
        """Returns workload id → cluster queue of every reservation."""
        return {wid: r.admission.cluster_queue for wid, r in sorted(self.engine.reservations.items())}

    def flavors_of(self, workload_id: str, pod_set: int = 0) -> dict[str, str]:
        return dict(self.engine.reservations[workload_id].admission.pod_sets[pod_set].flavors)

    def counts_of(self, workload_id: str) -> list[int]:
        return [a.count for a in self.engine.reservations[workload_id].admission.pod_sets]

    def reason(self, workload_id: str) -> Reason:
        return self.engine.pending_info(workload_id, self.now).reason


def targets(result: CycleResult) -> dict[str, str]:
    """Returns victim id → reason (Kueue's words) named in a cycle."""
    return {t.workload_id: t.reason.value for p in result.preempting for t in p.targets}


def admitted(result: CycleResult) -> list[str]:
    return [a.workload_id for a in result.admitted]


def _first_flavor(spec: ClusterQueueSpec, resource: str) -> str:
    for group in spec.resource_groups:
        if resource in group.covered_resources:
            return group.flavors[0].flavor
    raise KeyError(f"{spec.name} does not cover {resource}")
