"""Node-level preemptions reach the metrics (batchyard_preempted_workloads_total, reason InNodes), once per victim
gang and only once the transaction that asked them to leave has committed."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from scheduler_builders import inventoried, reserved
from test_scheduler_engine import placer_with, submit

from libs.platform.unit_of_work import UnitOfWork
from services.scheduler.engine import pending_of
from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.metrics import NODE_PREEMPTION, SchedulerMetrics
from tests.support.scheduler_store import InMemorySchedulerStore


def counted(reader: InMemoryMetricReader) -> dict[tuple, float]:
    data = reader.get_metrics_data()
    points = [p for rm in (data.resource_metrics if data else []) for sm in rm.scope_metrics for m in sm.metrics
              if m.name == "batchyard_preempted_workloads" for p in m.data.data_points]
    return {tuple(sorted(p.attributes.items())): p.value for p in points}


@pytest.mark.asyncio
async def test_a_node_level_preemption_counts_each_victim_gang_at_commit():
    reader = InMemoryMetricReader()
    metrics = SchedulerMetrics(lambda: placer, MeterProvider(metric_readers=[reader]).get_meter("test"))
    placer = placer_with(inventoried("n1"), inventoried("n2"))
    submit(placer, reserved("low-1").priority(1).pods("p", 1, gpu=8))
    submit(placer, reserved("low-2").priority(1).pods("p", 1, gpu=8), seq=2)
    high = reserved("high").priority(9).pods("p", 2, gpu=8).build()
    placer.enqueue(pending_of(high, 3, {}))
    handlers = SchedulerHandlers(placer, load=None, metrics=metrics, store=InMemorySchedulerStore())
    uow = UnitOfWork(conn=None, producer="scheduler", namespace="t", outbox_rows=[])
    await handlers.place_pending(uow, only="high")
    assert [e.type for e in uow.emitted] == ["PreemptionRequested", "PreemptionRequested", "WorkloadUnschedulable"]
    assert counted(reader) == {}  # nothing before the commit
    await uow.run_after_commit()
    key = (("preempting_cluster_queue", high.cluster_queue), ("reason", NODE_PREEMPTION))
    assert counted(reader) == {key: 2}
    again = UnitOfWork(conn=None, producer="scheduler", namespace="t", outbox_rows=[])
    await handlers.place_pending(again, only="high")  # still waiting for the same victims: not asked, not counted
    await again.run_after_commit()
    assert counted(reader) == {key: 2}
