"""scheduler_rebuild: the scheduler service rebuilds its snapshot from PostgreSQL after a restart or takeover.

Loads a fresh database with what the service stores for 10,000 nodes (NodeInventoried JSON, 2% in a
repair state), 100,000 running pods in 25,000 placements (exact GPU indices, priorities, start times,
tenants, trace contexts) and 1,000 pending reservations, then times ``repository.load_placer``: the
read of every row in one repeatable-read transaction, decoding, ``Snapshot.from_nodes`` + bulk bind,
and the pending queue. Median of 5 runs (wall time; the process's own CPU time is reported too, as the
machine is shared). Uses the PostgreSQL of BATCHYARD_DATABASE_URL (``export $(cat var/infra.env)``), else
starts a throwaway local one.

Run: .venv/bin/python -m benchmarks.scheduler_rebuild
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import asyncpg

from libs.events import (FlavorAssignment, NodeInventoried, PodSet, QuotaReserved, Resources, Tenant, Topology,
                         WorkloadSpec)
from libs.localinfra.databases import create_database
from libs.placement import PlacementPolicy
from libs.platform import store
from services.scheduler.repository import load_placer

from .placement_common import write_result

NODES, PODS, PER_WORKLOAD, PENDING, RUNS = 10_000, 100_000, 4, 1_000, 5
CMD = "export $(cat var/infra.env) && .venv/bin/python -m benchmarks.scheduler_rebuild"
SERVICE_DIR = Path(__file__).parents[1] / "services" / "scheduler"
TENANT = Tenant(org="acme", team="vision").model_dump_json()


def node_rows() -> list[tuple[str, str]]:
    rows = []
    for i in range(NODES):
        rack, name = i // 32, f"dc1/gpu-{i:05d}"
        event = NodeInventoried(node_id=name, cluster="dc1", pool="a100" if i % 2 else "h100", instance_type="x",
                                cpu_milli=128_000, memory_mib=1_048_576, gpu=8, gpu_model="A100" if i % 2 else "H100",
                                labels={"batchyard.dev/cluster": "dc1", "tier": "gold"},
                                price_per_hour_micros=9_600_000,
                                topology=Topology(zone="dc1/z1", block=f"dc1/b{rack // 8}", rack=f"dc1/r{rack}",
                                                  host=name))
        rows.append((name, event.model_dump_json()))
    return rows


def placement_rows() -> list[tuple]:
    """25,000 gangs of 4 pods; per node 8 one-GPU pods and 2 CPU-only pods (10 pods per node)."""
    rows = []
    for w in range(PODS // PER_WORKLOAD):
        pods = []
        for i in range(w * PER_WORKLOAD, (w + 1) * PER_WORKLOAD):
            slot, k = divmod(i, 10)
            gpus = [[k, 1000]] if k < 8 else []
            pods.append([f"w{w}/p/{i % PER_WORKLOAD}", f"dc1/gpu-{slot:05d}", 8000, 65536, gpus])
        trace = json.dumps({"traceparent": f"00-{w:032x}-{w:016x}-01"})
        rows.append((f"w{w}", "dc1", json.dumps(pods), w % 5, 1_700_000_000.0 + w, TENANT, trace))
    return rows


def pending_rows() -> list[tuple]:
    rows = []
    for i in range(PENDING):
        spec = WorkloadSpec(name=f"p{i}", pod_sets=(PodSet(name="workers", count=8, gpu_model="A100|H100",
                                                            requests=Resources(cpu_milli=8000, gpu=8)),))
        r = QuotaReserved(workload_id=f"pending-{i}", tenant=Tenant(org="acme", team="vision"), cluster_queue="cq",
                          flavors=(FlavorAssignment(pod_set="workers", flavor="f", clusters=("dc1",)),), spec=spec)
        rows.append((r.workload_id, r.model_dump_json(), "{}", 0))
    return rows


async def fill(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("nodes", records=node_rows(), columns=["node_id", "spec"])
        await conn.copy_records_to_table("node_states", columns=["node_id", "repair_state"],
                                         records=[(f"dc1/gpu-{i:05d}", "draining") for i in range(0, NODES, 50)])
        await conn.copy_records_to_table("placements", records=placement_rows(),
                                         columns=["workload_id", "cluster", "bound", "priority", "started_at",
                                                  "tenant", "trace"])
        await conn.copy_records_to_table("pending", records=pending_rows(),
                                         columns=["workload_id", "reservation", "trace", "priority"])
        await conn.execute("analyze")


async def run(admin: str) -> None:
    url = await create_database(admin)
    pool = await store.create_pool(url, "scheduler")
    try:
        await store.migrate(pool, "scheduler", SERVICE_DIR)
        t0 = time.perf_counter()
        await fill(pool)
        t_fill = time.perf_counter() - t0
        times, cpu, placer = [], [], None
        for _ in range(RUNS):
            t0, c0 = time.perf_counter(), time.process_time()
            placer = await load_placer(pool, PlacementPolicy(), clock=time.time, preemption=True, min_runtime_s=0)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        first = placer.cycle()
        t_cycle = time.perf_counter() - t0
    finally:
        await pool.close()
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(admin)
        await conn.execute(f'drop database if exists "{name}"')
        await conn.close()
    value = statistics.median(times)
    assert len(placer.snapshot.pods) == PODS and len(placer.snapshot.index) == NODES
    load = os.getloadavg()[0]
    print(f"scheduler_rebuild: {value:.2f} s (median of {', '.join(f'{t:.2f}' for t in times)}; scheduler CPU "
          f"{statistics.median(cpu):.2f} s; load average {load:.1f} on {os.cpu_count()} cores) to rebuild "
          f"{NODES} nodes + {PODS} pods + {PENDING} pending from PostgreSQL; then one cycle over the "
          f"{PENDING} pending took {t_cycle:.2f} s ({len(first)} decisions); loading the rows took {t_fill:.1f} s; "
          f"target < 5 s")
    write_result("scheduler_rebuild", round(value, 3), "s", False, 5, CMD, nodes=NODES, pods=PODS,
                 placements=PODS // PER_WORKLOAD, pending=PENDING, runs_s=[round(t, 3) for t in times],
                 cpu_s=round(statistics.median(cpu), 3), load_average=round(load, 1),
                 first_cycle_s=round(t_cycle, 3), first_cycle_decisions=len(first))


def main() -> None:
    if admin := os.environ.get("BATCHYARD_DATABASE_URL"):
        asyncio.run(run(admin))
        return
    from libs.localinfra import PostgresServer  # no server given: a throwaway local one
    from libs.localinfra.session import throwaway
    with throwaway(PostgresServer, "batchyard-bench-pg-") as server:
        asyncio.run(run(server.dsn))


if __name__ == "__main__":
    main()
