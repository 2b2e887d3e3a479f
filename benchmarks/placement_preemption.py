"""placement_preemption: a high-priority 64-GPU gang into a full 5,000-node cluster.

The fleet (5,000 nodes x 8 GPUs) is full: 40% of nodes hold eight 1-GPU workloads, 30% two
4-GPU workloads, 20% one 8-GPU workload, 10% four-node 32-GPU gangs (some of them high priority,
some younger than the minimum runtime). The preemptor is 8 pods x 8 GPUs at priority 100.
Reported: decision time, victims (whole workloads) and the lower bound on victims (fewest
eligible workloads whose GPUs add up to 64, ignoring geometry); baseline: per-node greedy
(kube-style: the nodes needing the fewest victims each, without gang awareness), same run.
Also: victim counts against the brute-force minimum on 300 small random instances.

Run: .venv/bin/python -m benchmarks.placement_preemption
"""

from __future__ import annotations

import itertools
import random
import time

from libs.placement import BoundPod, NodeSpec, PodSet, Snapshot, Topology, Workload, place
from libs.placement.preemption import PreemptionOutcome, find_preemption_targets

from .placement_common import fleet, write_result

NODES, NEED_GPUS, PRIORITY, NOW, MIN_RUNTIME = 5000, 64, 100, 10_000.0, 600.0
CMD = ".venv/bin/python -m benchmarks.placement_preemption"


def full_snapshot(seed: int = 11, gangs: bool = True) -> Snapshot:
    """Return the full fleet described above (``gangs=False``: 8-GPU workloads instead of gangs)."""
    rng = random.Random(seed)
    specs = fleet(NODES, filters=False)
    pods: list[BoundPod] = []

    def add(wid: str, node: str, gpus: range, prio: int, start: float) -> None:
        pods.append(BoundPod(f"{wid}/{len(pods)}", wid, node, 1000 * len(gpus), 4096 * len(gpus),
                             tuple((g, 1000) for g in gpus), prio, start))

    i = 0
    while i < NODES:
        kind, prio, start = rng.random(), rng.randint(0, 5), rng.uniform(0, NOW)
        name = specs[i].name
        if kind < 0.4:
            for g in range(8):
                add(f"one-{i}-{g}", name, range(g, g + 1), rng.randint(0, 5), rng.uniform(0, NOW))
        elif kind < 0.7:
            add(f"four-{i}-a", name, range(0, 4), prio, start)
            add(f"four-{i}-b", name, range(4, 8), rng.randint(0, 5), rng.uniform(0, NOW))
        elif kind < 0.9 or i + 4 > NODES or not gangs:
            add(f"eight-{i}", name, range(8), prio, start)
        else:
            prio = PRIORITY + 1 if rng.random() < 0.3 else prio
            for k in range(4):
                add(f"gang-{i}", specs[i + k].name, range(8), prio, start)
            i += 3
        i += 1
    return Snapshot.from_nodes(specs, pods)


def eligible_gpus(snap: Snapshot) -> dict[str, int]:
    """Return the GPUs held by each workload that may be preempted."""
    out = {}
    for wid, pod_ids in snap.workload_pods.items():
        pods = [snap.pods[p][1] for p in pod_ids]
        if max(p.priority for p in pods) < PRIORITY and NOW - min(p.started_at for p in pods) >= MIN_RUNTIME:
            out[wid] = sum(len(p.gpus) for p in pods)
    return out


def lower_bound(snap: Snapshot) -> int:
    """Return the fewest eligible workloads whose GPUs could add up to the gang's 64."""
    total, k = 0, 0
    for g in sorted(eligible_gpus(snap).values(), reverse=True):
        if total >= NEED_GPUS:
            break
        total, k = total + g, k + 1
    return k


def per_node_baseline(snap: Snapshot) -> int:
    """Return victims of kube-style per-node choice: the 8 nodes needing the fewest victims each."""
    ok = eligible_gpus(snap)
    costs = []
    for slot, pods in enumerate(snap.pods_on):
        owners = {p.workload_id for p in pods.values()}
        if owners and owners <= ok.keys():
            costs.append((len(owners), slot, owners))
    costs.sort(key=lambda c: (c[0], c[1]))
    return len(set().union(*(c[2] for c in costs[: NEED_GPUS // 8])))


def small_instance(rng: random.Random) -> tuple[Snapshot, Workload]:
    """Return a random 2-5 node cluster, full of 1-8 GPU workloads and 2-node gangs, and a preemptor."""
    n = rng.randint(2, 5)
    specs = [NodeSpec(f"n{i}", 64000, 262144, 8, "H100", topology=Topology("z", "b", f"r{i % 2}")) for i in range(n)]
    pods, i = [], 0
    while i < n:
        if rng.random() < 0.3 and i + 1 < n:
            prio = rng.randint(0, 3)
            for j in (i, i + 1):
                pods.append(BoundPod(f"g{i}/{j}", f"g{i}", f"n{j}", 1000, 1024, tuple((g, 1000) for g in range(8)), prio))
            i += 2
            continue
        g = 0
        while g < 8:
            k = min(rng.choice([1, 2, 4, 8]), 8 - g)
            pods.append(BoundPod(f"v{i}-{g}/0", f"v{i}-{g}", f"n{i}", 1000, 1024,
                                 tuple((x, 1000) for x in range(g, g + k)), rng.randint(0, 3)))
            g += k
        i += 1
    hp = Workload("hp", (PodSet("p", rng.randint(1, 3), 1000, 1024, rng.choice([2, 4, 8])),), priority=2)
    return Snapshot.from_nodes(specs, pods), hp


def brute_force_minimum(snap: Snapshot, hp: Workload) -> int | None:
    """Return the fewest eligible workloads whose eviction lets ``hp`` fit (None: impossible)."""
    cands = sorted({p.workload_id for _, p in snap.pods.values() if p.priority < hp.priority})
    for r in range(len(cands) + 1):
        for combo in itertools.combinations(cands, r):
            with snap.trial():
                for w in combo:
                    snap.unbind_workload(w)
                if place(snap, hp, commit=False).placed:
                    return r
    return None


def optimality(instances: int = 300, seed: int = 2) -> dict:
    """Compare victim counts with the brute-force minimum on small random instances."""
    rng, optimal, gaps = random.Random(seed), 0, []
    for _ in range(instances):
        snap, hp = small_instance(rng)
        best = brute_force_minimum(snap, hp)
        plan = find_preemption_targets(snap, hp, now=10.0)
        if not best:
            continue
        assert plan.outcome == PreemptionOutcome.FOUND
        gap = len(plan.victims) - best
        optimal += gap == 0
        gaps += [gap] if gap else []
    return dict(instances=optimal + len(gaps), optimal=optimal, gaps=sorted(gaps))


def scenario(gangs: bool) -> dict:
    """Run one preemption decision and return its figures."""
    snap = full_snapshot(gangs=gangs)
    gang = Workload("urgent", (PodSet("workers", 8, 8000, 32768, 8),), priority=PRIORITY)
    t0 = time.perf_counter()
    plan = find_preemption_targets(snap, gang, now=NOW, min_runtime=MIN_RUNTIME)
    ms = (time.perf_counter() - t0) * 1000
    return dict(ms=round(ms, 1), outcome=plan.outcome.name, victims=len(plan.victims),
                victim_pods=sum(len(v.pods) for v in plan.victims), lower_bound=lower_bound(snap),
                baseline=per_node_baseline(snap))


def main() -> None:
    mixed, flat = scenario(gangs=True), scenario(gangs=False)
    for name, r in (("with 32-GPU gangs", mixed), ("without gangs", flat)):
        print(f"placement_preemption ({name}): {r['ms']:.0f} ms, {r['outcome']}, {r['victims']} victim "
              f"workload(s) ({r['victim_pods']} pods) for a 64-GPU gang on {NODES} full nodes; lower bound "
              f"{r['lower_bound']}; per-node kube-style baseline {r['baseline']} victims")
    small = optimality()
    print(f"placement_preemption (small random instances vs brute force): {small['optimal']}/{small['instances']} "
          f"minimum, others over by {small['gaps']}")
    write_result("placement_preemption", mixed["ms"], "ms/decision", False, "fewest victims (= lower bound)",
                 CMD, victims=mixed["victims"], victim_pods=mixed["victim_pods"], lower_bound=mixed["lower_bound"],
                 baseline=mixed["baseline"], baseline_desc="victims of per-node greedy without gang awareness",
                 ratio=round(mixed["baseline"] / max(mixed["victims"], 1), 2), outcome=mixed["outcome"],
                 nodes=NODES, without_gangs=flat, vs_brute_force=small)


if __name__ == "__main__":
    main()
