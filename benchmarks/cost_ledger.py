"""Cost ledger throughput: usage reports turned into reconciled ledger rows per second.

Run: .venv/bin/python -m benchmarks.cost_ledger [--nodes N] [--hours H] [--seed S]
A fleet of GPU and CPU nodes runs random allocations for H hours. Every allocation is
reported 1-3 times (heartbeats, then a final end), and the reports are delivered shuffled
with 10% duplicated. Each report goes through LedgerBook.ingest, which is the service's
arithmetic: supersession, per node-hour truth, delta rows. Then every node-hour is closed
and the ledger is reconciled. Writes benchmarks/results/cost_ledger.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from benchmarks.record import write_result
from libs.cost import (
    LedgerBook,
    NodeSpec,
    Owner,
    PriceCatalog,
    PriceKey,
    PriceVersion,
    Resources,
    UsageInterval,
    reconcile,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = 2000.0  # reports/s: a 5,000-node fleet with ~1 report per allocation-minute needs far less


def fleet(n: int) -> dict[str, NodeSpec]:
    """Returns ``n`` nodes: a quarter 8-GPU H100 nodes, the rest 32-core CPU nodes."""
    out = {}
    for i in range(n):
        gpu = i % 4 == 0
        cap = Resources(96_000, 1024 * 2**30, 8) if gpu else Resources(32_000, 128 * 2**30, 0)
        pool = "gpu-a" if gpu else "cpu-a"
        out[f"n{i}"] = NodeSpec(f"n{i}", "aws-east", pool, "p5" if gpu else "m7i", cap, "H100" if gpu else "")
    return out


def reports(nodes: dict[str, NodeSpec], hours: int, rng: random.Random) -> list[UsageInterval]:
    """Returns every report of every allocation: about 4 allocations per node-hour."""
    out = []
    for a in range(len(nodes) * hours * 4):
        spec = nodes[rng.choice(sorted(nodes))] if a % 50 == 0 else nodes[f"n{a % len(nodes)}"]
        start = T0 + timedelta(minutes=rng.randrange(hours * 60))
        cap = spec.capacity
        res = Resources(rng.randint(0, cap.cpu_millis // 4), rng.randint(0, cap.memory_bytes // 4),
                        rng.randint(0, cap.gpus // 4))
        owner = Owner(f"org{a % 3}", f"team{a % 7}", f"q{a % 11}")
        end = start
        for seq in range(1, rng.randint(1, 3) + 1):
            end = min(end + timedelta(minutes=rng.randint(1, 90)), T0 + timedelta(hours=hours))
            out.append(UsageInterval(f"e{a}.{seq}", f"a{a}", seq, f"w{a}", owner, spec.node, start, end, res))
    return out


def run(n_nodes: int, hours: int, seed: int) -> dict:
    rng = random.Random(seed)
    nodes = fleet(n_nodes)
    keys = {PriceKey(s.cluster, s.pool, s.instance_type) for s in nodes.values()}
    catalog = PriceCatalog.of(PriceVersion(k, T0, 98_320_000 if k.pool == "gpu-a" else 1_612_800) for k in keys)
    delivery = reports(nodes, hours, rng)
    delivery += rng.sample(delivery, len(delivery) // 10)
    rng.shuffle(delivery)
    book = LedgerBook(nodes, catalog)
    t = time.perf_counter()
    for r in delivery:
        book.ingest(r)
    ingest_s = time.perf_counter() - t
    for node in sorted(nodes):
        for h in range(hours):
            book.close_node_hour(node, T0 + timedelta(hours=h))
    expected = {(n, T0 + timedelta(hours=h)): catalog.price_at(
        PriceKey(s.cluster, s.pool, s.instance_type), T0).hourly for n, s in nodes.items() for h in range(hours)}
    t = time.perf_counter()
    discrepancies = reconcile(book.rows, expected)
    reconcile_s = time.perf_counter() - t
    return {"nodes": n_nodes, "hours": hours, "reports_delivered": len(delivery), "ledger_rows": len(book.rows),
            "reports_per_second": len(delivery) / ingest_s, "ingest_seconds": ingest_s,
            "reconcile_rows_per_second": len(book.rows) / reconcile_s, "discrepancies": len(discrepancies)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    figures = run(args.nodes, args.hours, args.seed)
    result = write_result("cost_ledger", round(figures["reports_per_second"], 1), "reports/s", True, TARGET,
                          ".venv/bin/python -m benchmarks.cost_ledger " + " ".join(argv or sys.argv[1:]), **figures)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
