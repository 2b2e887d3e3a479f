"""Composition root of the scheduler: win the leader lock, rebuild the snapshot from Postgres, then place.

A standby blocks in start-up until it leads, so its Kafka consumer never joins the group meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from faststream import FastStream

from libs.events.topics import LIFECYCLE, NODE_INVENTORY, NODE_REPAIR, PLACEMENT, QUOTA
from libs.platform.leader import LeaderLease, step_down
from libs.platform.service import Runtime, ServiceDefinition, instance_name
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.metrics import SchedulerMetrics
from libs.placement.policy_file import load_policy
from services.scheduler.repository import load_placer

log = logging.getLogger("batchyard.scheduler")


def make_start(clock: Callable[[], float] = time.time, on_lost: Callable[[], None] = step_down):
    """Returns the start hook; ``clock`` stamps placements and ages preemption victims."""

    async def start(runtime: Runtime) -> Router:
        s = runtime.settings
        policy = load_policy(s.scheduler_policy)
        lease = LeaderLease(s.database_url, s.schema, s.instance_id or instance_name(),
                            poll_s=s.scheduler_standby_poll_s)
        runtime.on_stop(lease.release)
        await lease.acquire()  # a standby waits here, its consumer not yet created

        async def load():
            return await load_placer(runtime.pool, policy, clock=clock, preemption=s.scheduler_preemption,
                                     min_runtime_s=s.scheduler_min_runtime_s)

        scheduler_metrics = SchedulerMetrics(lambda: handlers.placer)
        handlers = SchedulerHandlers(await load(), load=load, fence=lease.fence, metrics=scheduler_metrics)
        runtime.service = handlers
        runtime.watch(scheduler_metrics.gauges)
        runtime.spawn(lease.watch(on_lost), name="scheduler-leader-watch")
        return handlers.router()

    return start


DEFINITION = ServiceDefinition(
    name="scheduler", consumes=(QUOTA, NODE_INVENTORY, NODE_REPAIR, LIFECYCLE), produces=(PLACEMENT,),
    service_dir=Path(__file__).parent, start=make_start(), static_member=True,
    batch=True,  # a poll batch per transaction: its handlers share the transaction and run one after another
    description="Keeps an in-memory snapshot of every node and places quota-reserved gangs "
                "(one active instance, warm standbys).")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
