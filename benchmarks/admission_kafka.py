"""Admission service throughput through real Kafka and Postgres, signature checks on.

Publishes ``--count`` signed submissions (the demo workload mix, one fresh token each) to a fresh topic
namespace first, then starts the admission service in-process and times how fast decisions commit:
each one is a Postgres transaction holding the inbox row, the token claim, the admitted-workload row,
the audit row and the outbox row. The figure is decisions committed per second between the first and
the last decision (consumer-group join excluded). It also measures ``decide`` alone on the same inputs,
to show what the I/O costs.

    export $(cat var/infra.env)      # an existing Kafka and PostgreSQL
    .venv/bin/python -m benchmarks.admission_kafka [--count 4000]
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import json
import logging
import os
import platform
import statistics
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from libs.admission import InMemoryReplayCache, decide
from libs.fleet.mix import workload_mix
from libs.localinfra.databases import create_database
from libs.platform.publisher import EventPublisher
from libs.platform.service import create_app
from libs.platform.settings import Settings
from libs.platform.topics_admin import ensure_topics
from services.admission.app import DEFINITION, build_handlers
from services.admission.signing import demo_signer
from services.admission.translate import job_document

RESULT = Path(__file__).parent / "results" / "admission_kafka.json"
TARGET = 5000
COMMAND = ".venv/bin/python -m benchmarks.admission_kafka"


def core_rate(events, settings: Settings) -> float:
    """Returns decide() calls per second on the same submissions (no Kafka, no Postgres)."""
    handlers = build_handlers(settings)
    keyring, policy = handlers.keyring.current().keyring, handlers.policy.current().policy
    cache, now = InMemoryReplayCache(), datetime.now(timezone.utc)
    started = time.perf_counter()
    for event in events:
        decide(job_document(event), event.token, keyring, policy, now, cache)
    return len(events) / (time.perf_counter() - started)


async def service_rate(events, settings: Settings, *, batch: bool = True) -> dict:
    """Returns the service's committed decisions per second, with the timeline it was measured on.

    ``batch=False`` runs the same service one transaction per message (the platform's default path).
    """
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
        await pub.publish(events)
    app = create_app(settings, dataclasses.replace(DEFINITION, batch=batch))
    samples: list[tuple[float, int]] = []
    async with app:
        pool = app.runtime.pool
        while True:
            count = await pool.fetchval("select count(*) from admission.audit_log")
            samples.append((time.perf_counter(), count))
            if count >= len(events):
                break
            await asyncio.sleep(0.05)
        relay_lag = await pool.fetchval("select count(*) from admission.outbox")
    first = next(i for i, (_, n) in enumerate(samples) if n > 0)
    (t0, n0), (t1, n1) = samples[first], samples[-1]
    return {"rate": (n1 - n0) / (t1 - t0), "seconds": t1 - t0, "decisions": n1 - n0, "outbox_left": relay_lag}


async def fresh_settings() -> Settings:
    """Returns settings on a fresh database and topic namespace of the servers in the environment."""
    bootstrap = os.environ["BATCHYARD_KAFKA_BOOTSTRAP"]
    database = await create_database(os.environ["BATCHYARD_DATABASE_URL"])
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, namespace)
    return Settings(kafka_bootstrap=bootstrap, database_url=database, topic_namespace=namespace)


async def run(count: int, baseline_count: int) -> dict:
    settings = await fresh_settings()
    events = list(workload_mix(count, seed=3, prefix="bench", signer=demo_signer("bench@batchyard")))
    core = statistics.median(core_rate(events, settings) for _ in range(3))
    service = await service_rate(events, settings)
    baseline = None
    if baseline_count:
        baseline = await service_rate(events[:baseline_count], await fresh_settings(), batch=False)
    return {
        "name": "admission_kafka_decisions_per_s", "value": round(service["rate"]), "unit": "decisions/s",
        "higher_is_better": True, "target": TARGET, "ratio": round(service["rate"] / TARGET, 3),
        "command": COMMAND, "submissions": count, "measured_seconds": round(service["seconds"], 2),
        "decide_only_per_s": round(core), "outbox_rows_unpublished_at_end": service["outbox_left"],
        "per_message_transaction_per_s": round(baseline["rate"]) if baseline else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "notes": "one in-process admission consumer over 6 partitions; one Postgres transaction per poll batch "
                 "(inbox, token claims, admitted, audit, outbox set-wise), HMAC verified on every message; "
                 "per_message_transaction_per_s is the same service with ServiceDefinition.batch=False",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="submissions to decide")
    parser.add_argument("--baseline-count", type=int, default=600,
                        help="submissions for the one-transaction-per-message baseline (0: skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    result = asyncio.run(run(args.count, args.baseline_count))
    print(f"admission through Kafka + Postgres: {result['value']} decisions/s "
          f"(target {TARGET}, {result['submissions']} signed submissions in {result['measured_seconds']} s); "
          f"decide() alone: {result['decide_only_per_s']}/s; "
          f"one transaction per message: {result['per_message_transaction_per_s']}/s")
    RESULT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
