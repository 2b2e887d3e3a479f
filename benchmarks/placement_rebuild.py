"""placement_rebuild: rebuild the snapshot in memory from 10,000 nodes and 100,000 running pods.

Input records (NodeSpec, BoundPod) are made first, as a service would decode them from
Postgres / compacted topics; the timed part is ``Snapshot.from_nodes(nodes, pods)`` (bulk
add + vectorised bulk bind + checks) and the first placement afterwards (cache warm-up).
Baseline (same run): incremental ``add_node`` + one ``bind`` per pod.

Run: .venv/bin/python -m benchmarks.placement_rebuild
"""

from __future__ import annotations

import time

from libs.placement import BoundPod, PodSet, Snapshot, Strategy, Workload, place

from .placement_common import fleet, write_result

NODES, PODS = 10_000, 100_000
CMD = ".venv/bin/python -m benchmarks.placement_rebuild"


def records():
    """Return 10,000 nodes and 100,000 pods (10 per node: 8 x 1-GPU, 2 CPU-only)."""
    specs = fleet(NODES)
    pods = []
    for i in range(PODS):
        slot, k = divmod(i, 10)
        gpus = ((k, 1000),) if k < 8 else ()
        pods.append(BoundPod(f"p{i}", f"w{i // 4}", specs[slot].name, 2000, 8192, gpus, i % 5, float(i)))
    return specs, pods


def main() -> None:
    t0 = time.perf_counter()
    specs, pods = records()
    t_records = time.perf_counter() - t0
    t0 = time.perf_counter()
    snap = Snapshot.from_nodes(specs, pods)
    t_bulk = time.perf_counter() - t0
    t0 = time.perf_counter()
    place(snap, Workload("probe", (PodSet("p", 1, 1000, 1024),)), Strategy.BINPACK, commit=False)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    inc = Snapshot(capacity=NODES)
    for s in specs:
        inc.add_node(s)
    for p in pods:
        inc.bind(p)
    t_inc = time.perf_counter() - t0
    total = t_bulk + t_first
    print(f"placement_rebuild: {total:.2f} s to rebuild {NODES} nodes + {PODS} pods and place the first pod "
          f"(bulk {t_bulk:.2f} s, first placement {t_first * 1000:.0f} ms; making the records {t_records:.2f} s); "
          f"incremental baseline {t_inc:.2f} s ({t_inc / t_bulk:.1f}x); target < 5 s")
    write_result("placement_rebuild", round(total, 3), "s", False, 5, CMD, nodes=NODES, pods=PODS,
                 bulk_s=round(t_bulk, 3), first_placement_s=round(t_first, 3), records_s=round(t_records, 3),
                 baseline=round(t_inc, 3), baseline_desc="incremental add_node + bind per pod",
                 ratio=round(t_inc / t_bulk, 1))


if __name__ == "__main__":
    main()
