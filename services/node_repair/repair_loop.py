"""The planning cycle: load the fleet, fold new reports, judge clusters' reachability, plan() under budgets and
overrides, persist, emit.

One cycle is one Postgres transaction (state, consumed signals and outbox commit together) under an
advisory lock, so a second instance waits instead of planning on stale counts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from libs.events import ClusterReachabilityChanged, NodeRepairTransitioned
from libs.platform.periodic import every
from libs.platform.unit_of_work import UnitOfWork
from libs.repair import FleetState, HeartbeatObserved, NodeRecord, RepairConfig, Transition, plan
from libs.repair.clusters import ReachChange, excused, excusing, judge
from services.node_repair import repository as repo

log = logging.getLogger("batchyard.node_repair")
LOCK = 0x6E6F6465  # advisory lock id: one planner at a time


def to_event(t: Transition, record: NodeRecord) -> NodeRepairTransitioned:
    """Returns the published form of a planner transition (evidence numbered in the order it was found)."""
    evidence = {f"{i}": line[:1000] for i, line in enumerate(t.evidence, start=1) if line}
    return NodeRepairTransitioned(node_id=t.node, from_state=t.from_state.value, to_state=t.to_state.value,
                                  action=t.action.value, reason=t.reason.value, evidence=evidence,
                                  pool=record.pool, domain=record.domain, drain_deadline=t.drain_deadline,
                                  occurred_at=t.at)


def clock_jumped(before: datetime | None, now: datetime, config: RepairConfig) -> bool:
    """Whether the clock jumped by more than half the cluster grace since the last cycle: node repair was down or
    far behind, so the silence it saw meanwhile says nothing about nodes or clusters."""
    return before is not None and now - before > config.diagnosis.cluster_unreachable_after / 2


def benefit_of_doubt(fleet: FleetState, before: datetime | None, now: datetime,
                     config: RepairConfig) -> list[HeartbeatObserved]:
    """Returns a heartbeat at ``now`` for every node when the clock jumped by more than half the heartbeat
    timeout since the last cycle: reports stopped fleet-wide (a connector or node repair was down, or far
    behind), so silence says nothing about the nodes. A node that is really dead is found one timeout later.
    """
    if before is None or now - before <= config.diagnosis.heartbeat_timeout / 2:
        return []
    log.info("repair clock jumped %s: every node gets a fresh heartbeat timeout", now - before)
    return [HeartbeatObserved(node, now) for node in fleet.nodes]


def reach_event(c: ReachChange) -> ClusterReachabilityChanged:
    """Returns the published form of a cluster judged unreachable or back."""
    return ClusterReachabilityChanged(cluster=c.cluster, reachable=c.reachable, since=c.since,
                                      reason="ClusterReachable" if c.reachable else "ClusterUnreachable",
                                      message=c.message[:1000])


async def judge_clusters(conn: asyncpg.Connection, uow: UnitOfWork, before: datetime | None, now: datetime,
                         config: RepairConfig) -> list[HeartbeatObserved]:
    """Judges every cluster's reachability, saves and publishes the changes; returns a heartbeat at ``now`` for
    each node of an unreachable cluster (the path to them is lost, not their heartbeats), and of one that came back
    less than the grace ago (its nodes' reports resume only once the API server, the agents and the connector
    have caught up)."""
    heard = await repo.load_clusters(conn)
    if not heard:
        return []
    clusters = excused(heard, now) if clock_jumped(before, now, config) else heard
    judged, changes = judge(clusters, now, config.diagnosis.cluster_unreachable_after)
    await repo.save_clusters(conn, heard, judged)
    for change in changes:
        log.warning("cluster %s %s: %s", change.cluster, "reachable" if change.reachable else "UNREACHABLE",
                    change.message)
        await uow.emit(reach_event(change))
    grace = config.diagnosis.cluster_unreachable_after
    cut_off = [name for name, c in judged.items() if excusing(c, now, grace)]
    return [HeartbeatObserved(node, now) for node in await repo.nodes_in(conn, cut_off)] if cut_off else []


async def cycle(pool: asyncpg.Pool, namespace: str, config: RepairConfig) -> int:
    """Runs one planning cycle; returns how many transitions it emitted."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", LOCK)
        now = await repo.clock_now(conn)
        fleet = await repo.load_fleet(conn, now - config.safety.rate_window)
        signals, taken = await repo.take_signals(conn)
        before = await repo.planned_at(conn, now)
        uow = UnitOfWork(conn=conn, producer="node-repair", namespace=namespace)
        signals += benefit_of_doubt(fleet, before, now, config)
        signals += await judge_clusters(conn, uow, before, now, config)
        overrides = await repo.load_overrides(conn)
        result = plan(fleet, signals, dataclasses.replace(config, overrides=overrides), now)
        await repo.save(conn, fleet, result, taken, xid_window=config.diagnosis.xid_window,
                        rate_window=config.safety.rate_window, now=now)
        await repo.clear_spent_forces(conn, result.fleet, overrides.forced)
        for t in result.transitions:
            await uow.emit(to_event(t, result.fleet.nodes[t.node]))
    return len(result.transitions)


async def run(pool: asyncpg.Pool, namespace: str, config: RepairConfig, wake: Callable[[], None], *,
              period_s: float = 0.25) -> None:
    """Plans every ``period_s`` until cancelled; a failed cycle rolls back and is retried next period."""
    await every(period_s, lambda: cycle(pool, namespace, config), name="repair cycle", wake=wake)
