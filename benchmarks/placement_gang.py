"""placement_gang: 256-pod gangs with a rack-required topology on 10,000 nodes.

10,000 nodes x 8 GPUs in racks of 32 (256 GPUs a rack); the fleet is first loaded to about
half with random 1-8 GPU pods, so only some racks can take a 256 x 1-GPU gang whole. Each
decision = filter + score + tightest-domain search + binding all 256 pods (committed).
Baseline (same run): the same engine placing pods one by one (no bulk fill).

Run: .venv/bin/python -m benchmarks.placement_gang
"""

from __future__ import annotations

import random
import time

import numpy as np

from libs.placement import (
    BoundPod, PodSet, Snapshot, Strategy, TopologyLevel, TopologyRequest, Workload, place,
)
from libs.placement import gang as gang_mod

from .placement_common import fleet, write_result

NODES, GANGS, GANG_PODS = 10000, 40, 256
CMD = ".venv/bin/python -m benchmarks.placement_gang"


def loaded_snapshot(seed: int = 7) -> Snapshot:
    """Return the fleet with about half of its racks partly used by small pods."""
    rng = random.Random(seed)
    specs = fleet(NODES, filters=False)
    pods = []
    for i, spec in enumerate(specs):
        rack = i // 32
        if rack % 2 == 0:
            continue  # even racks stay empty: candidates for whole gangs
        g = rng.randint(1, 8)
        pods.append(BoundPod(f"bg-{i}", f"bg-{i}", spec.name, 4000 * g, 8192 * g,
                             tuple((k, 1000) for k in range(g))))
    return Snapshot.from_nodes(specs, pods)


def gang(i: int) -> Workload:
    """Return a 256 x 1-GPU gang that must share one rack."""
    workers = PodSet("workers", GANG_PODS, cpu_milli=4000, memory_mib=8192, gpu_count=1,
                     topology=TopologyRequest(TopologyLevel.RACK))
    return Workload(f"gang-{i}", (workers,))


def run(snap: Snapshot, n: int) -> tuple[list[float], int]:
    """Return per-decision latencies (ms) and how many gangs were placed."""
    times, ok = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        result = place(snap, gang(i), Strategy.BINPACK)
        times.append((time.perf_counter() - t0) * 1000)
        ok += result.placed
    return times, ok


def main() -> None:
    snap = loaded_snapshot()
    place(snap, gang(-1), Strategy.BINPACK, commit=False)  # warm caches
    times, ok = run(snap, GANGS)
    mean, p99 = float(np.mean(times)), float(np.percentile(times, 99))
    snap2 = loaded_snapshot()
    bulk = gang_mod._fill_bulk
    gang_mod._fill_bulk = gang_mod._fill_each  # baseline: one pod at a time
    try:
        base, _ = run(snap2, 10)
    finally:
        gang_mod._fill_bulk = bulk
    base_mean = float(np.mean(base))
    print(f"placement_gang: {mean:.2f} ms mean, {p99:.2f} ms p99 per 256-pod rack-required gang "
          f"({ok}/{GANGS} placed) on {NODES} nodes; one-by-one baseline {base_mean:.2f} ms "
          f"({base_mean / mean:.1f}x); target < 10 ms")
    write_result("placement_gang", round(mean, 2), "ms/gang", False, 10, CMD, p99_ms=round(p99, 2),
                 nodes=NODES, gang_pods=GANG_PODS, gangs=GANGS, placed=ok,
                 baseline=round(base_mean, 2), baseline_desc="same engine, pods placed one by one",
                 ratio=round(base_mean / mean, 1))


if __name__ == "__main__":
    main()
