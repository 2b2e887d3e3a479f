"""The chaos run's faults: a seeded schedule of SIGKILLs, one PostgreSQL restart and one SIGSTOP past the Kafka
session timeout, carried out against the platform's processes; and a supervisor that restarts a service that
exits by itself (a leader steps down by exiting when its lock session dies, expecting a process manager)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from libs.localinfra.postgres import PostgresServer
from libs.localinfra.processes import Platform, ServiceProcess

SESSION_TIMEOUT_S = 10.0  # aiokafka's session.timeout.ms default, which the services keep
LEADER = "scheduler"  # the schedule's name for "whichever scheduler replica leads now"


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds after the load starts
    kind: str  # kill | stop | postgres
    target: str  # a service (LEADER: the scheduler replica that leads at that instant), or "postgres"
    hold_s: float  # kill: down this long before the restart; stop: stopped this long; postgres: unused

    def __str__(self) -> str:
        return f"{self.at_s:6.1f}s {self.kind:8} {self.target:14} {self.hold_s:4.1f}s"


def fault_schedule(rng: random.Random, targets: tuple[str, ...], *, kills_each: int, window_s: float,
                   start_s: float = 3.0) -> list[Fault]:
    """Returns every target killed ``kills_each`` times in a shuffled order, one PostgreSQL restart and one
    SIGSTOP of a random target for 1.5 session timeouts, spread evenly over ``window_s`` seconds from ``start_s``."""
    steps = [("kill", t, round(rng.uniform(0.3, 2.0), 1)) for t in targets for _ in range(kills_each)]
    rng.shuffle(steps)
    steps.insert(rng.randrange(len(steps) + 1), ("postgres", "postgres", 0.0))
    steps.insert(rng.randrange(len(steps) + 1), ("stop", rng.choice(targets), SESSION_TIMEOUT_S * 1.5))
    spacing = window_s / len(steps)
    return [Fault(round(start_s + i * spacing + rng.uniform(0, spacing / 2), 1), kind, target, hold)
            for i, (kind, target, hold) in enumerate(steps)]


async def scheduler_leader(dsn: str) -> str | None:
    """Returns the instance id of the scheduler replica holding the leader lock now (None between leaders)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return None
    try:
        return await conn.fetchval(
            "select l.instance from scheduler.leadership l join pg_locks k on k.pid = l.backend_pid "
            "and k.locktype = 'advisory' and k.granted order by l.term desc limit 1")
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


@dataclass
class Chaos:
    """Carries out a fault schedule and keeps the platform's processes running between faults."""

    platform: Platform
    postgres: PostgresServer
    leaders: dict[str, str]  # scheduler instance id -> the platform's name of that replica
    kills: Counter = field(default_factory=Counter)  # process name -> SIGKILLs
    leader_kills: int = 0  # SIGKILLs that hit the replica leading at that instant
    stopped: list[str] = field(default_factory=list)  # processes SIGSTOPped (and continued)
    postgres_restarts: int = 0
    self_exits: list[str] = field(default_factory=list)  # processes that exited on their own (name, code, why)
    busy: set[str] = field(default_factory=set)  # processes a fault holds down now: the supervisor leaves them
    log: list[str] = field(default_factory=list)  # what was done, when (printed at the end)

    async def run(self, faults: list[Fault], started: float) -> None:
        for fault in faults:
            await asyncio.sleep(max(0.0, started + fault.at_s - time.monotonic()))
            await self._do(fault, time.monotonic() - started)

    async def _do(self, fault: Fault, at: float) -> None:
        if fault.kind == "postgres":
            await asyncio.to_thread(self.postgres.restart)
            self.postgres_restarts += 1
            self.log.append(f"{at:6.1f}s restarted PostgreSQL")
            return
        name = await self._resolve(fault.target)
        service = self.platform.services[name]
        self.busy.add(name)
        try:
            if fault.kind == "kill":
                await self._kill(name, service, fault.hold_s, at)
            else:
                os.killpg(service.proc.pid, signal.SIGSTOP)
                self.log.append(f"{at:6.1f}s SIGSTOP {name} for {fault.hold_s:.0f}s")
                await asyncio.sleep(fault.hold_s)
                os.killpg(service.proc.pid, signal.SIGCONT)
                self.stopped.append(name)
        finally:
            self.busy.discard(name)

    async def _kill(self, name: str, service: ServiceProcess, hold_s: float, at: float) -> None:
        leader = name in self.leaders.values() and \
            self.leaders.get(await scheduler_leader(self.platform.database_url) or "") == name
        service.kill()
        self.kills[name] += 1
        self.leader_kills += leader
        self.log.append(f"{at:6.1f}s SIGKILL {name}{' (leader)' if leader else ''}, down {hold_s:.1f}s")
        await asyncio.sleep(hold_s)
        service.start()

    async def _resolve(self, target: str) -> str:
        """Returns the process a fault hits: for LEADER, the scheduler replica leading now (waits for one)."""
        if target != LEADER:
            return target
        for _ in range(120):
            if (instance := await scheduler_leader(self.platform.database_url)) in self.leaders:
                return self.leaders[instance]
            await asyncio.sleep(0.5)
        raise AssertionError(f"no scheduler replica led for 60 s\n{self.platform.logs()}")

    async def supervise(self, every_s: float = 0.5) -> None:
        """Restarts any process that exited by itself, as a process manager would, noting why it went."""
        while True:
            await asyncio.sleep(every_s)
            for name, service in self.platform.services.items():
                if name in self.busy or service.proc is None or service.proc.poll() is None:
                    continue
                tail = service.log_tail(3).splitlines()
                self.self_exits.append(f"{name} exited {service.proc.returncode}: {tail[-1] if tail else ''}")
                service.start()
