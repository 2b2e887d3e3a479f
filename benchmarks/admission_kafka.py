"""Admission service throughput through real Kafka and Postgres, signature checks on.

Publishes ``--count`` signed submissions (the demo workload mix, one fresh token each) to a fresh topic
namespace, then starts the admission service as ``--processes`` real processes (``batchyard run admission``,
one consumer group over the submission topic's 6 partitions) and times them:

- *decided*: decisions committed per second (each one in a Postgres transaction with its inbox row, token
  claim, admitted-workload row, audit row and outbox row);
- *end to end*: the same decisions counted until the last verdict is published to Kafka (outbox empty).

The processes are paused (SIGSTOP) once their consumer group is stable and resumed once every submission is
queued, so neither the group join nor the publishing is timed. The service processes' own CPU time per decision is reported too: unlike the rate,
it barely depends on what else the shared machine is doing. Baselines measured in the same run: one
process, and ``decide()`` alone on the same submissions.

    .venv/bin/python -m benchmarks.admission_kafka [--count 20000] [--processes 2] [--team-limits]

``--team-limits`` gives every team per-team maxima, so every decision also locks and reads its team's usage.

``--secure`` measures the cost of security in one run: the same submissions on a plaintext broker and on an
authorizing one (SASL_SSL with SCRAM-SHA-512, the StandardAuthorizer and the catalog's ACLs: admission as its
own principal, submissions written by ``producer``), ``--processes`` processes each, alternating, twice each;
writes admission_kafka_secure.json. Always starts its own throwaway brokers.

Uses the Kafka and PostgreSQL named by BATCHYARD_KAFKA_BOOTSTRAP / BATCHYARD_DATABASE_URL (``export $(cat
var/infra.env)``), else starts throwaway ones on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from libs.admission import InMemoryReplayCache, decide
from libs.fleet.mix import workload_mix
from libs.localinfra.databases import create_database
from libs.localinfra.processes import ServiceProcess
from libs.localinfra.session import servers
from libs.platform.publisher import EventPublisher
from libs.platform.settings import Settings
from libs.platform.topics_admin import ensure_topics
from services.admission.app import build_handlers
from services.admission.signing import demo_signer
from services.admission.translate import job_document

from .record import write_result

TARGET = 5000
COMMAND = ".venv/bin/python -m benchmarks.admission_kafka"
DEMO_POLICY = Path(__file__).resolve().parents[1] / "deploy" / "admission" / "policy.yaml"
TIMEOUT_S = 600.0  # a run that has not finished by then is reported as a failure, with the service logs


def core_rate(events) -> float:
    """Returns decide() calls per second on the same submissions (no Kafka, no Postgres)."""
    handlers = build_handlers(Settings())
    keyring, policy = handlers.keyring.current().keyring, handlers.policy.current().policy
    cache, now = InMemoryReplayCache(), datetime.now(timezone.utc)
    started = time.perf_counter()
    for event in events:
        decide(job_document(event), event.token, keyring, policy, now, cache)
    return len(events) / (time.perf_counter() - started)


@dataclass
class Sample:
    at: float  # perf_counter
    decided: int  # audit rows committed
    unpublished: int  # outbox rows not yet published


@dataclass
class Run:
    """One timed run of ``processes`` admission processes over ``count`` queued submissions."""

    processes: int
    count: int
    started: float = 0.0  # perf_counter when the paused processes were resumed
    samples: list[Sample] = field(default_factory=list)
    cpu_s: float = 0.0  # the service processes' CPU time (user + system) inside the measured window
    infra_cpu_s: dict[str, float] = field(default_factory=dict)  # the same for Kafka and Postgres on this machine
    stayed_stable: bool = False  # the consumer group had not rebalanced by the end

    def summary(self) -> dict:
        decided = next(s for s in self.samples if s.decided >= self.count)
        published = next(s for s in self.samples if s.decided >= self.count and s.unpublished == 0)
        return {"processes": self.processes, "decisions": self.count,
                "decided_per_s": round(self.count / (decided.at - self.started)),
                "end_to_end_per_s": round(self.count / (published.at - self.started)),
                "measured_seconds": round(published.at - self.started, 2),
                "cpu_us_per_decision": round(1e6 * self.cpu_s / self.count),
                **{f"{name}_cpu_us_per_decision": round(1e6 * cpu / self.count)
                   for name, cpu in self.infra_cpu_s.items()},
                "group_stayed_stable": self.stayed_stable}


def cpu_seconds(pids) -> float:
    """Returns the user + system CPU seconds the processes have used so far (0 for one that has gone)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def infra_pids() -> dict[str, list[int]]:
    """Returns the pids of this machine's Kafka broker and PostgreSQL processes (empty when they run elsewhere)."""
    found: dict[str, list[int]] = {"kafka": [], "postgres": []}
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = stat.read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka" in cmdline:
            found["kafka"].append(int(stat.parent.name))
        elif cmdline.startswith(b"postgres"):
            found["postgres"].append(int(stat.parent.name))
    return found


@dataclass(frozen=True)
class Bus:
    """How the benchmark reaches Kafka: as the admin, as the producer, and the admission processes' environment."""

    bootstrap: str
    admin: dict = field(default_factory=dict)  # aiokafka options of a super user (topics, ACLs, group state)
    producer: dict = field(default_factory=dict)  # aiokafka options of the submitting tenant
    service_env: dict = field(default_factory=dict)  # BATCHYARD_KAFKA_* of the admission principal
    acls: bool = False  # apply the catalog's ACLs in each fresh namespace


async def fresh_settings(bus: Bus, database_url: str) -> Settings:
    """Returns settings on a fresh database and topic namespace (its ACLs applied on an authorizing bus)."""
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    await ensure_topics(bus.bootstrap, namespace, **bus.admin)
    if bus.acls:
        from libs.platform import kafka_acls
        await kafka_acls.apply(bus.bootstrap, namespace, **bus.admin)
    return Settings(kafka_bootstrap=bus.bootstrap, database_url=await create_database(database_url),
                    topic_namespace=namespace, service="admission")


async def group_stable(admin: AIOKafkaAdminClient, group_id: str, members: int) -> bool:
    """Returns whether the consumer group is Stable with ``members`` members, each holding partitions.

    False, not an error, while the broker cannot describe the group yet: a freshly started broker has no group
    coordinator until its offsets topic exists (GroupCoordinatorNotAvailable and other retriable errors).
    """
    try:
        (response,) = await admin.describe_consumer_groups([group_id])
    except KafkaError as exc:
        if not exc.retriable:
            raise
        return False
    error, _group, state, _ptype, _protocol, found, *_ = response.groups[0]
    return error == 0 and state == "Stable" and len(found) == members and all(m[4] for m in found)


async def count_rows(pool: asyncpg.Pool) -> tuple[int, int]:
    """Returns (audit rows, outbox rows); (0, count) before the service has created its tables."""
    try:
        return (await pool.fetchval("select count(*) from admission.audit_log"),
                await pool.fetchval("select count(*) from admission.outbox"))
    except asyncpg.UndefinedTableError:
        return 0, 0


async def wait_stable(admin: AIOKafkaAdminClient, group_id: str, procs: list[ServiceProcess]) -> None:
    """Waits until every process is in the consumer group and holds partitions (or one of them exits)."""
    deadline = time.monotonic() + TIMEOUT_S
    while not await group_stable(admin, group_id, len(procs)):
        check_alive(procs, deadline, "the consumer group did not settle")
        await asyncio.sleep(0.1)


def check_alive(procs: list[ServiceProcess], deadline: float, what: str) -> None:
    """Raises with the first dead process's log if one exited, or ``what`` once the deadline has passed."""
    dead = [p for p in procs if p.proc.poll() is not None]
    if dead or time.monotonic() > deadline:
        why = "an admission process exited" if dead else f"{what} within {TIMEOUT_S:.0f}s"
        raise RuntimeError(f"{why}; its log:\n{(dead or procs)[0].log_tail()}")


def signal_all(procs: list[ServiceProcess], sig: signal.Signals) -> None:
    for proc in procs:
        os.killpg(proc.proc.pid, sig)


async def timed_run(events, bus: Bus | str, database_url: str, processes: int, log_root: Path,
                    policy: Path | None = None) -> Run:
    """Starts the processes, pauses them once their group is stable, queues every submission, resumes them,
    and samples progress until every verdict is published. The pause keeps the publishing out of the timing."""
    bus = Bus(bus) if isinstance(bus, str) else bus
    bootstrap = bus.bootstrap
    settings = await fresh_settings(bus, database_url)
    env = {**os.environ, "BATCHYARD_KAFKA_BOOTSTRAP": bootstrap, "BATCHYARD_DATABASE_URL": settings.database_url,
           "BATCHYARD_TOPIC_NAMESPACE": settings.topic_namespace, "PYTHONUNBUFFERED": "1", **bus.service_env,
           **({"BATCHYARD_ADMISSION_POLICY": str(policy)} if policy else {})}
    run, procs = Run(processes, len(events)), []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **bus.admin)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
    await admin.start()
    try:
        for i in range(processes):
            folder = log_root / f"{settings.topic_namespace}-p{processes}-{i}"
            folder.mkdir(parents=True)
            procs.append(ServiceProcess("admission", env, folder).start())
        await wait_stable(admin, settings.group_id, procs)
        signal_all(procs, signal.SIGSTOP)  # well inside the session timeout: the group stays as it is
        try:
            async with EventPublisher(bootstrap, settings.topic_namespace, **bus.producer) as publisher:
                await publisher.publish(events)
        finally:
            signal_all(procs, signal.SIGCONT)
        pids, deadline = [p.proc.pid for p in procs], time.monotonic() + TIMEOUT_S
        infra = {name: found for name, found in infra_pids().items() if found}
        run.started, cpu_at_start = time.perf_counter(), cpu_seconds(pids)
        infra_at_start = {name: cpu_seconds(found) for name, found in infra.items()}
        while True:
            decided, unpublished = await count_rows(pool)
            run.samples.append(Sample(time.perf_counter(), decided, unpublished))
            if decided >= len(events) and unpublished == 0:
                run.cpu_s = cpu_seconds(pids) - cpu_at_start
                run.infra_cpu_s = {name: cpu_seconds(found) - infra_at_start[name] for name, found in infra.items()}
                run.stayed_stable = await group_stable(admin, settings.group_id, processes)
                return run
            check_alive(procs, deadline, f"not all decided ({decided}/{len(events)})")
            await asyncio.sleep(0.05)
    finally:
        for proc in procs:
            proc.stop()
        await pool.close()
        await admin.close()


def team_limits_policy(folder: Path) -> Path:
    """Writes the demo policy with generous per-team maxima for every team: all is still accepted, but every
    decision locks and reads its team's usage (the costliest path of the team.* rules)."""
    policy = yaml.safe_load(DEMO_POLICY.read_text())
    policy["default"]["team_limits"] = {"max_gpus": 10_000_000, "max_pods": 10_000_000, "max_workloads": 10_000_000}
    path = folder / "policy-team-limits.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


async def run(count: int, processes: int, team_limits: bool) -> dict:
    events = list(workload_mix(count, seed=3, prefix="bench", signer=demo_signer("bench@batchyard")))
    core = statistics.median(core_rate(events[:4000]) for _ in range(3))
    print(f"decide() alone: {core:,.0f}/s", flush=True)
    results = {}
    with servers(progress=lambda m: print(m, flush=True)) as infra, tempfile.TemporaryDirectory() as logs:
        policy = team_limits_policy(Path(logs)) if team_limits else None
        for n in sorted({1, processes}):
            results[n] = (await timed_run(events, Bus(infra.bootstrap), infra.database_url, n, Path(logs),
                                          policy)).summary()
            print(f"{n} process(es): {results[n]}", flush=True)
    head, base = results[processes], results[1]
    return {
        "value": head["end_to_end_per_s"], "decided_per_s": head["decided_per_s"], "processes": processes,
        "submissions": count, "measured_seconds": head["measured_seconds"],
        "cpu_us_per_decision": head["cpu_us_per_decision"], "runs": list(results.values()),
        "decide_only_per_s": round(core), "baseline": base["end_to_end_per_s"],
        "baseline_desc": "one admission process, same run", "ratio": round(head["end_to_end_per_s"] / TARGET, 3),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2), "team_limits": team_limits,
        "notes": f"{processes} admission process(es) in one consumer group over 6 partitions; one Postgres "
                 "transaction per poll batch; Ed25519 verified on every message; value counts each decision until "
                 "its verdict is published to Kafka, from the moment the paused processes resume",
    }


def secure_bus(kafka) -> Bus:
    """Returns the authorizing broker as the benchmark reaches it: admin, producer, and admission's principal."""
    from libs.platform.acls import principals
    assert set(principals()) <= set(kafka.scram_users)
    env = {"BATCHYARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "BATCHYARD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "BATCHYARD_KAFKA_SASL_USERNAME": "admission",
           "BATCHYARD_KAFKA_SASL_PASSWORD": kafka.scram_users["admission"],
           "BATCHYARD_KAFKA_SSL_CAFILE": str(kafka.ca_file), "BATCHYARD_ENSURE_TOPICS": "false"}
    return Bus(kafka.bootstrap, admin=kafka.client_options("admin"), producer=kafka.client_options("producer"),
               service_env=env, acls=True)


async def run_secure(count: int, processes: int) -> dict:
    """Returns the cost of SASL_SSL and ACLs: plaintext and authorizing brokers, alternating, twice each."""
    import secrets

    from libs.localinfra import KafkaServer, PostgresServer
    from libs.localinfra.kafka_authz import AuthorizingKafkaServer
    from libs.localinfra.session import throwaway
    from libs.platform.acls import principals

    events = list(workload_mix(count, seed=3, prefix="bench", signer=demo_signer("bench@batchyard")))
    users = {name: secrets.token_urlsafe(12).replace("-", "x") for name in (*principals(), "admin")}
    runs: dict[str, list[dict]] = {"plain": [], "secure": []}
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as logs, \
            throwaway(KafkaServer, "bench-kafka-") as plain, throwaway(PostgresServer, "bench-pg-") as postgres:
        secure = AuthorizingKafkaServer(Path(root) / "kafka", scram_users=users).start(progress=print)
        try:
            buses = {"plain": Bus(plain.bootstrap), "secure": secure_bus(secure)}
            for round_ in range(2):
                for mode in ("plain", "secure"):
                    summary = (await timed_run(events, buses[mode], postgres.dsn, processes, Path(logs))).summary()
                    runs[mode].append(summary)
                    print(f"round {round_ + 1}, {mode}: {summary}", flush=True)
        finally:
            secure.stop()
    best = {mode: max(r["end_to_end_per_s"] for r in found) for mode, found in runs.items()}
    cpu = {mode: min(r["cpu_us_per_decision"] for r in found) for mode, found in runs.items()}
    return {
        "value": best["secure"], "plain_per_s": best["plain"], "processes": processes, "submissions": count,
        "secure_to_plain": round(best["secure"] / best["plain"], 3),
        "cpu_us_per_decision": cpu["secure"], "plain_cpu_us_per_decision": cpu["plain"],
        "cpu_cost_of_security": round(cpu["secure"] / cpu["plain"], 3), "runs": runs,
        "baseline": best["plain"], "baseline_desc": "plaintext broker, no authorizer, same run",
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "notes": f"{processes} admission process(es); SASL_SSL (SCRAM-SHA-512, TLS) and the StandardAuthorizer with "
                 "the catalog's ACLs, admission as its own principal and submissions written by 'producer'; "
                 "alternating plain/secure runs, best of two each; Ed25519 verified on every message",
    }


def main_secure(count: int, processes: int) -> None:
    result = asyncio.run(run_secure(count, processes))
    secure = result.pop("value")
    write_result("admission_kafka_secure", secure, "decisions/s", True, TARGET, f"{COMMAND} --secure", **result)
    print(f"admission with SASL_SSL + ACLs: {secure:,}/s vs plaintext {result['plain_per_s']:,}/s "
          f"({result['secure_to_plain']:.2f}); admission CPU per decision x{result['cpu_cost_of_security']:.2f}; "
          f"load {result['loadavg_1m_at_end']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000, help="submissions to decide")
    parser.add_argument("--processes", type=int, default=2, help="admission processes (also runs 1 as baseline)")
    parser.add_argument("--team-limits", action="store_true",
                        help="give every team per-team maxima (decisions lock and read team usage); "
                             "writes admission_kafka_team_limits.json")
    parser.add_argument("--secure", action="store_true", help="plaintext vs SASL_SSL + ACLs in one run; writes "
                        "admission_kafka_secure.json")
    args = parser.parse_args()
    if args.count < 1 or not 1 <= args.processes <= 6:
        parser.error("--count must be positive and --processes between 1 and 6 (the topic has 6 partitions)")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if args.secure:
        main_secure(args.count, args.processes)
        sys.exit(0)
    result = asyncio.run(run(args.count, args.processes, args.team_limits))
    name = "admission_kafka_team_limits" if args.team_limits else "admission_kafka"
    command = f"{COMMAND} --team-limits" if args.team_limits else COMMAND
    write_result(name, result.pop("value"), "decisions/s", True, TARGET, command,
                 **result)
    print(f"admission through Kafka + Postgres: {result['decided_per_s']:,} decided/s, "
          f"{result['runs'][-1]['end_to_end_per_s']:,} end to end/s with {args.processes} process(es) "
          f"(target {TARGET:,}); 1 process: {result['baseline']:,}/s; decide() alone: {result['decide_only_per_s']:,}/s")
    sys.exit(0)


if __name__ == "__main__":
    main()
