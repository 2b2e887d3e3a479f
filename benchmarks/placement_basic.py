"""placement_basic: single-pod placement, 5,000 nodes x 10,000 pods, all filters on.

Shaped like kube-scheduler's scheduler_perf SchedulingBasic (nodes of 4 CPU / 32 GiB, pods of
100m / 500Mi, 1,000 pods pre-placed then 10,000 measured), with every filter exercised:
flavor cluster/pool, health, cordon, taints/tolerations, node selector, required affinity,
and a share of GPU pods with a model constraint. Baseline: a naive per-node Python loop. The same 10,000
pods go a second time, on a fresh snapshot, through ``libs.placement.schedule``: the scheduler service's whole
cycle (ordering, skips, never-fits, preemption planning around ``place``), as one cycle of 10,000 waiting.

Run: .venv/bin/python -m benchmarks.placement_basic
"""

from __future__ import annotations

import time
from dataclasses import replace

from libs.placement import (
    AffinityOperator, NodeSelectorRequirement, NodeSpec, PodSet, Snapshot, Strategy, Toleration, Waiting,
    Workload, place, schedule,
)
from libs.placement.model import TaintEffect

from .placement_common import fleet, write_result

NODES, WARM, PODS, BASELINE_PODS = 5000, 1000, 10000, 300
CMD = ".venv/bin/python -m benchmarks.placement_basic"
TOL = (Toleration("dedicated", "Equal", "infer", TaintEffect.NO_SCHEDULE),)
AFF = (NodeSelectorRequirement("tier", AffinityOperator.IN, ("gold", "silver")),)


def nodes() -> list[NodeSpec]:
    """Return SchedulingBasic-sized nodes (4 CPU, 32 GiB; every 5th has 2 GPUs) with filters on."""
    out = []
    for i, spec in enumerate(fleet(NODES, gpus=0, cpu=4000, mem=32768)):
        gpu = 2 if i % 5 == 0 else 0
        out.append(replace(spec, gpu_count=gpu, pool="p1",
                           gpu_model=("H100" if i % 10 == 0 else "A100") if gpu else ""))
    return out


def workload(i: int) -> Workload:
    """Return the i-th single-pod workload; one in ten asks for an H100|A100 GPU."""
    gpu = 1 if i % 10 == 0 else 0
    pod = PodSet("main", 1, cpu_milli=100, memory_mib=500, gpu_count=gpu,
                 gpu_models=("A100", "H100") if gpu else (), node_selector={"disk": "ssd"},
                 affinity=AFF, tolerations=TOL if i % 2 else ())
    return Workload(f"w{i}", (pod,), clusters=("c1",), pools=("p1",))


def naive_place(specs: list[NodeSpec], used: list[list[int]], w: Workload) -> int | None:
    """Return the best node by a per-node Python loop (filters then most-allocated score)."""
    pod, best, best_score = w.pod_sets[0], None, -1.0
    for i, n in enumerate(specs):
        if n.cluster not in w.clusters or n.pool not in w.pools or not n.healthy or n.cordoned:
            continue
        if any(not any(t.tolerates(taint) for t in pod.tolerations) for taint in n.taints):
            continue
        if any(n.labels.get(k) != v for k, v in pod.node_selector.items()):
            continue
        if any(n.labels.get(r.key) not in r.values for r in pod.affinity):
            continue
        if pod.gpu_count and n.gpu_model not in pod.gpu_models:
            continue
        cpu, mem, gpu = used[i]
        if cpu + pod.cpu_milli > n.cpu_milli or mem + pod.memory_mib > n.memory_mib \
                or gpu + pod.gpu_count > n.gpu_count:
            continue
        score = ((cpu + pod.cpu_milli) / n.cpu_milli + (mem + pod.memory_mib) / n.memory_mib) / 2
        if score > best_score:
            best, best_score = i, score
    if best is not None:
        used[best][0] += pod.cpu_milli
        used[best][1] += pod.memory_mib
        used[best][2] += pod.gpu_count
    return best


def through_the_cycle(specs: list[NodeSpec]) -> tuple[float, int]:
    """Returns (pods/s, placed) for the same warm-up and pods as one scheduler-service cycle on a fresh snapshot."""
    snap = Snapshot.from_nodes(specs)
    schedule(snap, [Waiting(workload(-1 - i), i) for i in range(WARM)], Strategy.BINPACK, 0.0)
    waiting = [Waiting(workload(i), WARM + i) for i in range(PODS)]
    t0 = time.perf_counter()
    result = schedule(snap, waiting, Strategy.BINPACK, 0.0)
    return PODS / (time.perf_counter() - t0), sum(d.placement is not None and d.placement.placed
                                                 for d in result.decisions)


def main() -> None:
    specs = nodes()
    snap = Snapshot.from_nodes(specs)
    for i in range(WARM):
        place(snap, workload(-1 - i), Strategy.BINPACK)
    t0 = time.perf_counter()
    placed = sum(place(snap, workload(i), Strategy.BINPACK).placed for i in range(PODS))
    rate = PODS / (time.perf_counter() - t0)
    cycle_rate, cycle_placed = through_the_cycle(specs)
    used = [[0, 0, 0] for _ in specs]
    t0 = time.perf_counter()
    for i in range(BASELINE_PODS):
        naive_place(specs, used, workload(i))
    base = BASELINE_PODS / (time.perf_counter() - t0)
    print(f"placement_basic: {rate:,.0f} pods/s ({placed}/{PODS} placed) on {NODES} nodes; "
          f"naive per-node loop {base:,.0f} pods/s; ratio {rate / base:.0f}x; target >= 20,000; "
          f"through the service's cycle (schedule) {cycle_rate:,.0f} pods/s ({cycle_placed}/{PODS} placed), "
          f"{cycle_rate / rate:.2f}x of place alone")
    write_result("placement_basic", round(rate), "pods/s", True, 20000, CMD, nodes=NODES, pods=PODS,
                 placed=placed, baseline=round(base, 1), baseline_desc="naive per-node Python loop",
                 ratio=round(rate / base, 1), ci_floor_kube_scheduler_perf=680, cycle_pods_per_s=round(cycle_rate),
                 cycle_placed=cycle_placed, cycle_vs_place=round(cycle_rate / rate, 2))


if __name__ == "__main__":
    main()
