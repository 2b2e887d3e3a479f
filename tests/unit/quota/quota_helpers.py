"""Small helpers shared by the quota tests: build an engine, submit, run cycles."""

from __future__ import annotations

from libs.quota import CycleResult, QuotaConfig, QuotaEngine, ResourceFlavor, Timing, Why, Workload
from libs.quota.builders import local_queues_for
from libs.quota.config import ClusterQueueSpec, CohortSpec

KUEUE_DOCS = "https://kueue.sigs.k8s.io/docs/concepts/"


def config_of(*queues: ClusterQueueSpec, cohorts: tuple[CohortSpec, ...] = (), fair: bool = False,
              timing: Timing = Timing(), **kw) -> QuotaConfig:
    """Returns a config with one local queue per cluster queue (named like it)."""
    flavors = {fq.flavor for spec in (*queues, *cohorts) for g in spec.resource_groups for fq in g.flavors}
    return QuotaConfig.build(flavors=[ResourceFlavor(f, {"pool": f}) for f in sorted(flavors)],
                             cohorts=cohorts, cluster_queues=queues,
                             local_queues=local_queues_for(*(q.name for q in queues)),
                             fair_sharing=fair, timing=timing, **kw)


def engine_of(*queues: ClusterQueueSpec, **kw) -> QuotaEngine:
    return QuotaEngine(config_of(*queues, **kw))


def submit(engine: QuotaEngine, *workloads: Workload, now: float = 0.0) -> None:
    for wl in workloads:
        engine.add_workload(wl, now)


def run(engine: QuotaEngine, now: float = 0.0, cycles: int = 1) -> CycleResult:
    """Runs ``cycles`` cycles at ``now``; returns the merged result."""
    admitted, preempting, pending, expired = [], [], [], []
    for _ in range(cycles):
        r = engine.run_cycle(now)
        admitted += r.admitted
        preempting += r.preempting
        pending = list(r.pending)  # only the latest reasons matter
        expired += r.expired
    return CycleResult(tuple(admitted), tuple(preempting), tuple(pending), tuple(expired))


def run_until_quiet(engine: QuotaEngine, now: float = 0.0, limit: int = 50) -> list[str]:
    """Runs cycles until one admits nothing; returns the ids admitted, in order."""
    ids: list[str] = []
    for _ in range(limit):
        r = engine.run_cycle(now)
        if not r.admitted:
            break
        ids += [a.workload_id for a in r.admitted]
    return ids


def admit_now(engine: QuotaEngine, *workloads: Workload, now: float = 0.0) -> None:
    """Submits and admits ``workloads`` (asserting all fit), to set up running work."""
    submit(engine, *workloads, now=now)
    run_until_quiet(engine, now)
    missing = [w.id for w in workloads if w.id not in engine.reservations]
    assert not missing, f"setup: not admitted {missing}"


def targets(result: CycleResult) -> set[str]:
    return {t.workload_id for p in result.preempting for t in p.targets}


def admitted_ids(result: CycleResult) -> list[str]:
    return [a.workload_id for a in result.admitted]


def flavor_of(engine: QuotaEngine, workload_id: str, resource: str = "cpu") -> str:
    return engine.reservations[workload_id].admission.pod_sets[0].flavors[resource]


def evict_targets(engine: QuotaEngine, result: CycleResult, now: float) -> None:
    """Plays the connector: evicts every preemption target (which requeues it)."""
    for p in result.preempting:
        for t in p.targets:
            engine.evict(t.workload_id, Why(t.reason, "preempted"), now)


def converge(engine: QuotaEngine, now: float = 0.0, limit: int = 100) -> None:
    """Runs cycles, evicting every target (the connector's job), until nothing changes.

    Evicted workloads back off past ``now``, so they do not come straight back.
    """
    for _ in range(limit):
        result = engine.run_cycle(now)
        evict_targets(engine, result, now)
        if not result.admitted and not result.preempting:
            return
    raise AssertionError("did not converge")


def usage_by_queue(engine: QuotaEngine, resource: str = "cpu") -> dict[str, int]:
    """Returns reserved units of ``resource`` per cluster queue (whole units)."""
    out: dict[str, int] = {}
    for r in engine.reservations.values():
        amount = sum(v for (f, res), v in r.admission.usage().items() if res == resource)
        out[r.admission.cluster_queue] = out.get(r.admission.cluster_queue, 0) + amount
    scale = 1000 if resource == "cpu" else 1
    return {k: v // scale for k, v in sorted(out.items())}
