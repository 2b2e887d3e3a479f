"""The scheduler's Prometheus metrics, computed from its node snapshot: GPUs allocated and in total per pool,
nodes per pool by schedulability, and workloads holding quota that wait for nodes; and the victims of node-level
preemption, counted as they are asked to leave (docs/observability.md)."""

from __future__ import annotations

from collections import Counter

from opentelemetry import metrics

from libs.placement.model import GPU_MILLI
from libs.platform.gauges import Gauges, Sample


# The reason label of node-level preemption in batchyard_preempted_workloads_total: Kueue preempts only for quota
# (InClusterQueue, InCohort*, counted by quota); this is a higher-priority gang taking nodes from lower ones.
NODE_PREEMPTION = "InNodes"


class SchedulerMetrics:
    """Gauges over the live placer (``placer`` returns it: a rebuild replaces it), and the preemption counter."""

    def __init__(self, placer, meter: metrics.Meter | None = None) -> None:
        self.placer = placer  # () -> Placer
        meter = meter or metrics.get_meter("batchyard")
        self.preemptions = meter.create_counter(
            "batchyard_preempted_workloads", description="Workloads preempted, per preempting_cluster_queue and reason")
        self.gauges = Gauges()
        self.gauges.gauge("batchyard_pool_gpus_total", "GPUs on the nodes of a pool (cluster, pool, gpu_model)",
                          lambda: self._gpus()[0])
        self.gauges.gauge("batchyard_pool_gpus_allocated", "GPUs allocated to pods in a pool (fractions count "
                          "as fractions)", lambda: self._gpus()[1])
        self.gauges.gauge("batchyard_pool_nodes", "Nodes per cluster, pool and state (schedulable, cordoned, "
                          "unhealthy)", self._nodes)
        self.gauges.gauge("batchyard_scheduler_pending_workloads", "Workloads holding quota that wait for nodes",
                          lambda: [(len(self.placer().pending), {})])

    def preempted(self, preempting_cluster_queue: str, victims: int) -> None:
        """Counts the victim gangs one node-level preemption asked to leave (once each: the placer never asks
        twice for a victim still there)."""
        self.preemptions.add(victims, {"preempting_cluster_queue": preempting_cluster_queue,
                                       "reason": NODE_PREEMPTION})

    def _gpus(self) -> tuple[list[Sample], list[Sample]]:
        snapshot = self.placer().snapshot
        total: Counter = Counter()
        allocated: Counter = Counter()
        for slot, spec in enumerate(snapshot.specs):
            if spec is None or not spec.gpu_count:
                continue
            key = (spec.cluster, spec.pool, spec.gpu_model)
            total[key] += spec.gpu_count
            allocated[key] += (spec.gpu_count * GPU_MILLI - int(snapshot.gpu_free[slot])) / GPU_MILLI

        def rows(counts: Counter) -> list[Sample]:
            return [(float(n), {"cluster": c, "pool": p, "gpu_model": m}) for (c, p, m), n in sorted(counts.items())]
        return rows(total), rows(Counter({k: allocated.get(k, 0) for k in total}))

    def _nodes(self) -> list[Sample]:
        counts: Counter = Counter()
        for spec in self.placer().snapshot.specs:
            if spec is not None:
                state = "unhealthy" if not spec.healthy else "cordoned" if spec.cordoned else "schedulable"
                counts[(spec.cluster, spec.pool, state)] += 1
        pools = {(c, p) for c, p, _ in counts}
        return [(float(counts.get((c, p, s), 0)), {"cluster": c, "pool": p, "state": s})
                for c, p in sorted(pools) for s in ("schedulable", "cordoned", "unhealthy")]
