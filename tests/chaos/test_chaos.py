"""The chaos run (issue 16): the whole platform as processes under steady load (libs/localinfra/steady_load.py,
with tight quotas and node faults), two scheduler replicas, while a seeded schedule SIGKILLs every service
CHAOS_KILLS_EACH times (the scheduler's leader of the moment included), restarts PostgreSQL once and SIGSTOPs one
service past its Kafka session timeout. At the end, from the event log: every workload in exactly one final
state; none placed twice at once nor beyond its quota; the ledger equal to node-hours x price to the micro; every
repair that started finished or was handed back. Sized for CI by default; ``./task chaos`` runs 10,000 workloads.

CHAOS_WORKLOADS, CHAOS_RATE (offered per second), CHAOS_KILLS_EACH, CHAOS_TEAM_CPU (each team's nominal quota in
cores) and CHAOS_SEED (replays a schedule) size it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter

import asyncpg
import pytest

from libs.fleet.spec import FaultSpec, FleetSpec, StormSpec
from libs.localinfra.processes import ALL_SERVICES, Platform
from libs.localinfra.steady_load import FLEET, TEAMS, platform_env, queues_yaml, submissions
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer
from tests.chaos import checks
from tests.chaos.faults import LEADER, Chaos, fault_schedule, scheduler_leader
from tests.integration.test_broker_loss import group_lags, publish_steadily

WORKLOADS = int(os.environ.get("CHAOS_WORKLOADS", "600"))
RATE = int(os.environ.get("CHAOS_RATE", "10"))
pytestmark = [pytest.mark.integration, pytest.mark.timeout(int(600 + 3 * WORKLOADS / RATE))]
KILLS_EACH = int(os.environ.get("CHAOS_KILLS_EACH", "3"))
SEED = int(os.environ.get("CHAOS_SEED", str(random.SystemRandom().randrange(1_000_000))))
# cores per team (the load's pods take 100m each): quota binds when the flow stalls (a service down or stopped)
TEAM_CPU, BORROW_CPU = int(os.environ.get("CHAOS_TEAM_CPU", "8")), 2
TARGETS = ("admission", "quota", LEADER, "node-repair", "cost-reporting", "sim-fleet")
# The fleet's clock: 1 wall second = 2 simulated minutes (steady load's 600x closes five times more node-hours
# per wall second, and cost reporting then spends the run closing idle hours instead of billing the load).
TIME_SCALE = 120
# Node faults the run can wait out: storms of XID 79 on a tenth of the pool at a fifth, two fifths and three
# fifths of the load (random fault rates would start repairs until the very end). 2% of pods fail.
CHAOS_FLEET = FleetSpec(name="chaos", pools=FLEET.pools, faults=FaultSpec(
    pod_failure_probability=0.02, termination_grace_s=600, reboot_s=1800,
    storms=tuple(StormSpec(pool="cpu", share=0.1, after_s=TIME_SCALE * WORKLOADS / RATE * i / 5)
                 for i in range(1, 4))))


def quota_limits() -> checks.QuotaLimits:
    """Returns what each cluster queue and cohort may hold: nominal + borrowing limit, and the cohort's nominal sum
    (a cohort of one queue has nothing to lend it)."""
    members = Counter(t.org for t in TEAMS)
    queues = {f"{t.org}-{t.team}": (t.org, 1000 * (TEAM_CPU + (BORROW_CPU if members[t.org] > 1 else 0)))
              for t in TEAMS}
    return checks.QuotaLimits(queues, {org: 1000 * TEAM_CPU * n for org, n in members.items()})


def chaos_env(directory) -> dict[str, str]:
    return platform_env(directory, CHAOS_FLEET, queues_yaml(TEAM_CPU, BORROW_CPU), TIME_SCALE)


@pytest.fixture
async def chaos_platform(kafka_bootstrap, restartable_postgres, namespace, tmp_path):
    """Every service as a process, the scheduler twice (replicas a and b); stopped at the end, even on failure."""
    await ensure_topics(kafka_bootstrap, namespace)
    platform = Platform(kafka_bootstrap, restartable_postgres.dsn, namespace, tmp_path,
                        extra_env=chaos_env(tmp_path / "config"))
    try:
        platform.start([s for s in ALL_SERVICES if s != "scheduler"])
        for replica in ("scheduler-a", "scheduler-b"):
            platform.start_as(replica, "scheduler", {"BATCHYARD_INSTANCE_ID": replica})
        yield platform
    finally:
        platform.stop()


async def ledger_rows(dsn: str) -> tuple[list, object]:
    """Returns the cost ledger's rows and its closed watermark, read in one snapshot."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await conn.fetch("select node_id, hour, party, amount_micros from cost_reporting.ledger")
            closed = await conn.fetchval("select closed_through from cost_reporting.clock")
        return rows, closed
    finally:
        await conn.close()


async def test_chaos_run_loses_nothing_doubles_nothing_and_reconciles(chaos_platform, restartable_postgres,
                                                                       kafka_bootstrap, namespace):
    platform, dsn = chaos_platform, restartable_postgres.dsn
    rng = random.Random(SEED)
    duration = WORKLOADS / RATE
    faults = fault_schedule(rng, TARGETS, kills_each=KILLS_EACH, window_s=duration * 0.85)
    print(f"\nchaos: seed {SEED} (CHAOS_SEED replays it), {WORKLOADS} workloads at {RATE}/s, "
          f"load average {os.getloadavg()[0]:.2f}; schedule:\n" + "\n".join(map(str, faults)))
    chaos = Chaos(platform, restartable_postgres, {"scheduler-a": "scheduler-a", "scheduler-b": "scheduler-b"})
    observer = await checks.ChaosObserver(kafka_bootstrap, namespace, isolation_level="read_committed").start()
    nodes = CHAOS_FLEET.node_count
    assert await observer.wait_for(lambda o: len(o.inventory) >= nodes, timeout=120), platform.logs()
    for _ in range(120):  # a leader to kill from the first fault on
        if await scheduler_leader(dsn):
            break
        await asyncio.sleep(0.5)
    events, published = submissions(WORKLOADS, "chaos", demo_signer(), producer="chaos"), []
    ids = [e.workload_id for e in events]
    began = time.monotonic()
    tasks = [asyncio.create_task(publish_steadily(kafka_bootstrap, namespace, events, RATE, published)),
             asyncio.create_task(chaos.run(faults, began))]
    supervisor = asyncio.create_task(chaos.supervise())
    try:
        await asyncio.gather(*tasks)

        def settled(o: checks.ChaosObserver) -> bool:
            return sum(o.workloads[w].state in ("succeeded", "failed", "rejected") for w in ids if w in o.workloads) \
                == WORKLOADS and not checks.repair_audit(o.transitions).open

        if not await observer.wait_for(settled_or_stalled(settled, ids), timeout=max(300.0, duration * 2)) \
                or not settled(observer):
            lags = await group_lags(kafka_bootstrap, namespace)
            await dump_tasks(platform)
            raise AssertionError(f"not settled: {observer.states('chaos')}\n"
                                 f"{checks.repair_audit(observer.transitions).open}\nlags: {lags}\n"
                                 + "\n".join(chaos.log) + f"\n{platform.logs()}\nlogs in {platform.log_dir}")
        settled_s = time.monotonic() - began
        await asyncio.sleep(3)  # a late duplicate or a second run would show now
        await report_and_check(observer, chaos, ids, dsn, settled_s)
    finally:
        for task in (*tasks, supervisor):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await observer.stop()


def settled_or_stalled(settled, ids: list[str], stall_s: float = 90.0):
    """Returns a predicate: settled, or no workload moved for ``stall_s`` seconds (fail with the picture now)."""
    last = {"picture": None, "since": time.monotonic()}

    def check(o: checks.ChaosObserver) -> bool:
        picture = (sum(o.counts.values()), len(o.transitions))
        if picture != last["picture"]:
            last.update(picture=picture, since=time.monotonic())
        return settled(o) or time.monotonic() - last["since"] > stall_s
    return check


async def dump_tasks(platform: Platform) -> None:
    """SIGUSR1 to every service: each logs its asyncio tasks' await chains (where a stuck one waits)."""
    for service in platform.services.values():
        if service.proc and service.proc.poll() is None:
            os.killpg(service.proc.pid, signal.SIGUSR1)
    await asyncio.sleep(2)


async def report_and_check(observer: checks.ChaosObserver, chaos: Chaos, ids: list[str], dsn: str,
                           settled_s: float) -> None:
    """Computes the four checks, prints their counts, then asserts them."""
    states, not_final = checks.final_states(observer, ids)
    placements, doubled = checks.double_placements(observer, ids)
    quota = checks.quota_audit(observer, ids, quota_limits())
    repairs = checks.repair_audit(observer.transitions)
    expected = checks.expected_usage(observer, ids, CHAOS_FLEET)
    _, prices = checks.node_specs(CHAOS_FLEET)
    first = {n: at.replace(minute=0, second=0, microsecond=0) for n, at in observer.inventory.items()}
    ledger = checks.LedgerAudit(problems=["not read"])
    deadline = time.monotonic() + 300
    while ledger.problems and time.monotonic() < deadline:  # cost reporting may still be working through the log
        rows, closed = await ledger_rows(dsn)
        ledger = checks.ledger_audit(rows, expected, prices, first, closed)
        if ledger.problems:
            await asyncio.sleep(1)
    accrued = sum(observer.workloads[w].cost_micros for w in ids)
    print(f"chaos: settled {settled_s:.0f}s after the load began; load average {os.getloadavg()[0]:.2f}\n"
          f"  submitted {len(ids)}; final states {dict(states)}\n"
          f"  placements {placements}; evictions {observer.counts['WorkloadEvicted']}; double placements "
          f"{len(doubled)}\n"
          f"  quota reservations {quota.reservations}; peak CPU millicores {dict(sorted(quota.peak.items()))}; "
          f"over quota {len(quota.problems)}\n"
          f"  ledger {ledger.booked} micros over {ledger.node_hours} node-hours, node-hours x price {ledger.expected}"
          f" (workloads {ledger.workload_micros}, from the log {ledger.log_workload_micros}, CostAccrued {accrued}); "
          f"discrepancies {len(ledger.problems)}\n"
          f"  repairs started {repairs.started}, finished {repairs.finished}, handed back {repairs.handed_back}, "
          f"open {len(repairs.open)}\n"
          f"  SIGKILLs {dict(chaos.kills)} (scheduler leader {chaos.leader_kills}); SIGSTOP {chaos.stopped}; "
          f"PostgreSQL restarts {chaos.postgres_restarts}\n"
          f"  process starts { {n: s.starts for n, s in chaos.platform.services.items()} }; exits on their own "
          f"{len(chaos.self_exits)}: {chaos.self_exits}\n  dead letters {len(observer.dead_letters)}")
    print("\n".join(chaos.log))
    for problems in (not_final, doubled, quota.problems, ledger.problems, repairs.open):
        print("\n".join(f"  ! {p}" for p in problems[:30]))
    assert not not_final, not_final[:20]
    assert not doubled, doubled[:20]
    assert not quota.problems, quota.problems[:20]
    assert not ledger.problems, ledger.problems[:20]
    assert ledger.booked == ledger.expected and accrued == ledger.workload_micros
    assert not repairs.open and repairs.started > 0, repairs
    assert not observer.dead_letters and not observer.undecodable
    every = [n for n in chaos.platform.services if not n.startswith("scheduler")]
    assert all(chaos.kills[n] >= KILLS_EACH for n in every) and chaos.leader_kills >= KILLS_EACH, chaos.kills
    assert chaos.postgres_restarts == 1 and len(chaos.stopped) == 1
