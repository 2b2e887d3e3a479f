"""malformed_volume: bad records at volume through real Kafka into every service (issue 16, "Malformed input at
volume").

The whole platform runs as processes (admission, quota, scheduler, node repair, cost reporting, the simulated fleet)
on one real Kafka and one real PostgreSQL. A warm-up of 30 signed submissions runs to the end; every record it left
on the topics is the seed corpus. Then ``--bad`` records made from that corpus (benchmarks/malformed/generate.py:
byte-wise mutations, hostile JSON, Hypothesis-drawn documents and bytes, hostile headers and keys) go to every topic
a service reads, interleaved evenly with ``--good`` signed submissions. The checks: no service exits or restarts;
every bad record is dead-lettered by each service that reads its topic, and by no other, with the reason code
``libs.events.decode`` gives it; every good submission succeeds on the simulated fleet; every consumer group ends at
the end of every partition it reads. The rate is all records sent over the wall time from the first send until the
last check held (generation of the records included: it runs on the same cores, as they are sent).

Run: .venv/bin/python -m benchmarks.malformed_volume [--bad 20000] [--good 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from libs.events import WorkloadSubmitted, encode
from libs.events.topics import SUBMITTED
from libs.localinfra.databases import create_database
from libs.localinfra.processes import ALL_SERVICES, Platform
from libs.localinfra.session import servers
from libs.localinfra.steady_load import SPEC, TEAMS, platform_env
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer

from .e2e_load import machine_busy, tree_cpu_seconds
from .malformed import hostile
from .malformed.corpus import capture
from .malformed.generate import Generator, readers
from .malformed.verify import Sent, Watcher, check, group_lags, matched
from .record import write_result

CMD = ".venv/bin/python -m benchmarks.malformed_volume"
WARM_UP = 30
IN_FLIGHT = 2_000  # sends awaited together: bounds the producer's memory


def good_submission(index: int, prefix: str, sign) -> tuple[str, bytes]:
    """Returns a good submission's id and bytes, signed now (tokens live 10 minutes; a long run outlives that)."""
    event = sign(WorkloadSubmitted(workload_id=f"{prefix}-{index:07d}", tenant=TEAMS[index % len(TEAMS)], spec=SPEC,
                                   producer="malformed-volume"))
    return event.workload_id, encode(event)


async def send_all(producer: AIOKafkaProducer, namespace: str, generator: Generator, bad: int, good: int,
                   prefix: str, sent: Sent, progress) -> None:
    """Sends ``bad`` records from the generator with ``good`` submissions spread evenly among them; notes where
    each landed (its expected letters) in ``sent``."""
    sign, every = demo_signer(subject="malformed-volume@batchyard"), max(1, bad // max(1, good))
    pending: list = []
    good_sent, started = 0, time.monotonic()

    async def settle() -> None:
        for future, note in pending:
            try:
                meta = await future
            except KafkaError as exc:  # counted: a refused send is not a record the platform saw
                sent.refused[type(exc).__name__] += 1
                continue
            if note[0] == "good":
                sent.good.add(note[1])
            else:
                sent.bad[(meta.topic, meta.partition, meta.offset)] = note[1:]
        pending.clear()

    for i, record in enumerate(generator.records(bad)):
        pending.append((await producer.send(record.topic.qualified(namespace), value=record.value, key=record.key,
                                            headers=record.headers), ("bad", record.reason, record.kind,
                                                                      readers(record.topic))))
        if good_sent < good and i % every == every - 1:
            wid, value = good_submission(good_sent, prefix, sign)
            headers = [("event-type", b"WorkloadSubmitted")]
            if good_sent % 10 == 9:  # hostile headers on good records too: they must still be processed
                headers += hostile.hostile_headers(generator.rng)
            pending.append((await producer.send(SUBMITTED.qualified(namespace), value=value, key=wid.encode(),
                                                headers=headers), ("good", wid)))
            good_sent += 1
        if len(pending) >= IN_FLIGHT:
            await settle()
        if i % 20_000 == 19_999:
            progress(f"    sent {i + 1:,} bad, {good_sent:,} good ({(i + 1) / (time.monotonic() - started):,.0f}/s)")
    while good_sent < good:
        wid, value = good_submission(good_sent, prefix, sign)
        pending.append((await producer.send(SUBMITTED.qualified(namespace), value=value, key=wid.encode()),
                        ("good", wid)))
        good_sent += 1
    await settle()


async def warm_up(producer: AIOKafkaProducer, namespace: str, watcher: Watcher, platform: Platform,
                  timeout_s: float = 240) -> None:
    """Runs WARM_UP good submissions to the end: the platform is ready and every topic holds real records."""
    sign, ids = demo_signer(subject="malformed-volume@batchyard"), []
    for i in range(WARM_UP):
        wid, value = good_submission(i, "warm", sign)
        ids.append(wid)
        await producer.send_and_wait(SUBMITTED.qualified(namespace), value=value, key=wid.encode(),
                                     headers=[("event-type", b"WorkloadSubmitted")])
    deadline = time.monotonic() + timeout_s
    while not watcher.succeeded >= set(ids):
        platform.assert_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"warm-up: {len(watcher.succeeded & set(ids))}/{WARM_UP} succeeded\n{platform.logs()}")
        await asyncio.sleep(0.5)


async def drain(sent: Sent, watcher: Watcher, platform: Platform, bootstrap: str, namespace: str,
                stall_s: float, progress, loads: list[float]) -> dict:
    """Waits until every expected letter arrived, every good submission succeeded and no group lags, or until
    nothing moved (letters, successes, committed offsets) for ``stall_s``; returns the last lags."""
    expected, last, quiet_since, lags = sent.expected_letters, None, time.monotonic(), {}
    while True:
        platform.assert_alive()
        lags = await group_lags(bootstrap, namespace, tuple(platform.services))
        behind = sum(n for partitions in lags.values() for n in partitions.values())
        # committed offsets count as progress too: the good workloads' own events make no letters
        state = (matched(sent, watcher), len(sent.good & watcher.succeeded), behind)
        if state == (expected, len(sent.good), 0):
            return lags
        if state != last:
            last, quiet_since = state, time.monotonic()
            loads.append(os.getloadavg()[0])
            progress(f"    letters {state[0]:,}/{expected:,}, good succeeded {state[1]:,}/{len(sent.good):,}, "
                     f"records behind {behind:,} on {sum(map(len, lags.values()))} partitions, load {loads[-1]:.2f}")
        elif time.monotonic() - quiet_since > stall_s:
            progress(f"    no progress for {stall_s:.0f}s: stopping; lags {lags}")
            return lags
        await asyncio.sleep(2)


async def run(bootstrap: str, database_url: str, bad: int, good: int, seed: int, log_dir: Path, *,
              stall_s: float = 90, pool: int = 1_000, progress=print) -> dict:
    """Runs the platform (on the empty database ``database_url``) through ``bad`` bad and ``good`` good records;
    returns the figures and every check's outcome (``failures`` lists what fell short; empty when all held)."""
    namespace = f"mf{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, namespace)
    platform = Platform(bootstrap, database_url, namespace, log_dir,
                        extra_env=platform_env(log_dir / "config")).start(ALL_SERVICES)
    watcher = await Watcher(bootstrap, namespace).start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20,
                                max_batch_size=256 * 1024)
    await producer.start()
    sent, loads = Sent(), [os.getloadavg()[0]]
    try:
        progress(f"  warming up ({WARM_UP} workloads) ...")
        await warm_up(producer, namespace, watcher, platform)
        corpus = await capture(bootstrap, namespace)
        progress(f"  corpus: {', '.join(f'{t} {len(s)}' for t, s in corpus.items() if s)}; drawing Hypothesis pool")
        generator = Generator(corpus, seed, pool)
        roots = {n: s.proc.pid for n, s in platform.services.items()}
        cpu0, busy0, started = tree_cpu_seconds(roots), machine_busy(), time.monotonic()
        await send_all(producer, namespace, generator, bad, good, f"good{seed}", sent, progress)
        sent_s = time.monotonic() - started
        lags = await drain(sent, watcher, platform, bootstrap, namespace, stall_s, progress, loads)
        wall_s = time.monotonic() - started
        busy, total = (b - a for a, b in zip(busy0, machine_busy()))
        cpu = {n: round(v - cpu0[n], 1) for n, v in tree_cpu_seconds(roots).items()}
        platform.assert_alive()
    finally:
        await producer.stop()
        await watcher.stop()
        platform.stop()
    outcome = check(sent, watcher, namespace)
    crashed = {n: s.proc.returncode for n, s in platform.services.items() if s.starts != 1 or s.proc.returncode
               not in (0, -15, None)}
    failures = [f"{k}: {outcome[k]}" for k in ("letters_missing", "letters_wrong_reason", "letters_unexpected")
                if outcome[k]]
    failures += [f"good unfinished: {len(sent.good) - outcome['good_succeeded']}"] * (outcome["good_succeeded"]
                                                                                     < len(sent.good))
    failures += [f"lagging: {lags}"] * any(lags.values()) + [f"crashed: {crashed}"] * bool(crashed)
    failures += [f"refused by Kafka: {dict(sent.refused)}"] * bool(sent.refused)
    tracebacks = {n: text.count("Traceback") for n, s in platform.services.items()
                  if (text := (log_dir / f"{n}.{s.starts}.log").read_text(errors="replace")).count("Traceback")}
    failures += [f"tracebacks in logs: {tracebacks}"] * bool(tracebacks)
    records = len(sent.bad) + len(sent.good)
    return {"bad_records": len(sent.bad), "good_records": len(sent.good), "seed": seed,
            "records_per_s": round(records / wall_s, 1), "letters_per_s": round(len(watcher.letters) / wall_s, 1),
            "wall_s": round(wall_s, 1), "send_s": round(sent_s, 1), "expected_letters": sent.expected_letters,
            "letters_read": watcher.deliveries, "letters_distinct": len(watcher.letters),
            "bad_by_kind": dict(generator.made.most_common()),
            "bad_by_reason": dict(Counter(r for r, _, _ in sent.bad.values()).most_common()),
            "still_valid_not_sent": dict(generator.still_valid.most_common()),
            "corpus": {t: len(s) for t, s in corpus.items() if s}, **outcome, "lags": lags, "crashed": crashed,
            "failures": failures, "service_cpu_s": cpu, "machine_cpu_busy": round(busy / max(1, total), 2),
            "load_average_1m": {"start": loads[0], "max": max(loads), "end": os.getloadavg()[0]},
            "load_average_end": list(os.getloadavg())}


async def main(bad: int, good: int, seed: int, progress=print) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-malformed-"))
    with servers(progress) as found:
        figures = await run(found.bootstrap, await create_database(found.database_url), bad, good, seed, root,
                            progress=progress)
    if figures["failures"]:
        progress(f"  the services' logs are kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    held = "every check held" if not figures["failures"] else "checks FAILED"
    return write_result("malformed_volume", figures["records_per_s"], f"records/s (bad + good; {held})", True,
                        "all checks", f"{CMD} --bad {bad} --good {good} --seed {seed}", **figures)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.malformed_volume", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bad", type=int, default=20_000, help="bad records to send")
    parser.add_argument("--good", type=int, default=200, help="good signed submissions interleaved with them")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generator (and its Hypothesis draw)")
    args = parser.parse_args(argv)
    if args.bad < 1 or args.good < 0:
        parser.error("--bad must be positive and --good not negative")
    return args


if __name__ == "__main__":
    args = parse_args()
    result = asyncio.run(main(args.bad, args.good, args.seed))
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_sample")}, indent=2))
    raise SystemExit(1 if result["failures"] else 0)
