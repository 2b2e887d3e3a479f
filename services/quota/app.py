"""Composition root of the quota service: the Kueue-semantics core (libs/quota) behind Kafka and Postgres.

One instance leads (a Postgres advisory lock, libs/platform/leader.py, as the scheduler's); a standby waits in
start-up, its Kafka consumer not yet created, and every transaction of the leader is fenced by the lock.
At start-up the stored config (or, the first time, ``Settings.quota_config``) and the stored workloads
rebuild the engine; a timer task then runs cycles for backoff ends and waitForPodsReady expiry and
picks up configs applied with ``batchyard queues apply``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from faststream import FastStream

from libs.events.topics import ADMISSION, LIFECYCLE, PLACEMENT, QUOTA
from libs.platform.leader import LeaderLease, step_down
from libs.platform.periodic import every
from libs.platform.service import Runtime, ServiceDefinition, instance_name
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.quota.handlers import QuotaHandlers
from services.quota.store import PostgresQuotaStore

TICK_S = 1.0  # how often the timer looks for ended backoffs, expired reservations and new configs


def make_start(clock: Callable[[], float] = time.time, on_lost: Callable[[], None] = step_down):
    """Returns the start hook; ``clock`` (epoch seconds) drives backoff and waitForPodsReady."""

    async def start(runtime: Runtime) -> Router:
        s = runtime.settings
        path = Path(s.quota_config)
        lease = LeaderLease(s.database_url, s.schema, s.instance_id or instance_name())
        runtime.on_stop(lease.release)
        await lease.acquire()  # a standby waits here, its consumer not yet created
        handlers = QuotaHandlers(runtime.pool, clock=clock, metrics=runtime.metrics, fence=lease.fence,
                                 store=PostgresQuotaStore())
        await handlers.ensure_config(path.read_text(), source=str(path))
        runtime.service = handlers
        handlers.kueue.install(runtime)
        runtime.spawn(_timer(runtime, handlers), name="quota-timer")
        runtime.spawn(lease.watch(on_lost), name="quota-leader-watch")
        return handlers.router()

    return start


async def _timer(runtime: Runtime, handlers: QuotaHandlers) -> None:
    await asyncio.sleep(TICK_S)
    await every(TICK_S, lambda: handlers.tick(runtime.settings.topic_namespace), name="quota timer tick",
                wake=lambda: runtime.relay and runtime.relay.wake())


DEFINITION = ServiceDefinition(
    name="quota", consumes=(ADMISSION, LIFECYCLE, PLACEMENT), produces=(QUOTA,), service_dir=Path(__file__).parent,
    start=make_start(), static_member=True,
    batch=True,  # a poll batch per transaction; accepted workloads of one batch share one round of cycles
    description="Kueue semantics: reserves quota per cluster queue and flavor (cohorts, borrowing, fair sharing, "
                "preemption); releases and requeues it as workloads end or are evicted.")


def create_app(settings: Settings | None = None) -> FastStream:
    return create_service_app(settings or Settings(), DEFINITION)
