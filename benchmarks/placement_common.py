"""Shared helpers of the placement benchmarks: result files and synthetic fleets."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.record import RESULTS, machine, write_result  # noqa: F401 - re-exported for the placement benchmarks
from libs.placement import NodeSpec, Taint, Topology

REPO = Path(__file__).resolve().parent.parent
TRACES = Path(os.environ.get("BATCHYARD_TRACES", REPO.parent / "shared" / "data" / "traces"))


def fleet(n: int, *, gpus: int = 8, cpu: int = 64000, mem: int = 512 * 1024, racks_of: int = 32,
          gpu_models: tuple[str, ...] = ("H100", "A100"), filters: bool = True) -> list[NodeSpec]:
    """Return ``n`` nodes in zones/blocks/racks; with ``filters`` some are tainted, cordoned or sick."""
    nodes = []
    for i in range(n):
        rack = i // racks_of
        taints = (Taint("dedicated", "infer"),) if filters and i % 10 == 3 else ()
        nodes.append(NodeSpec(
            name=f"node-{i:05d}", cpu_milli=cpu, memory_mib=mem, gpu_count=gpus,
            gpu_model=gpu_models[i % len(gpu_models)] if gpus else "",
            cluster="c1", pool="gpu" if gpus else "cpu",
            labels={"tier": "gold" if i % 4 else "silver", "disk": "ssd"},
            taints=taints, topology=Topology(f"z{rack // 64}", f"b{rack // 8}", f"r{rack}"),
            healthy=not (filters and i % 97 == 5), cordoned=filters and i % 89 == 7,
            price_per_hour=2.0 + (i % 3)))
    return nodes
