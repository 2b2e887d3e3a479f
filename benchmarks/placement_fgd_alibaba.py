"""placement_fgd_alibaba: GPU allocation ratio on the Alibaba 2023 GPU trace (FGD protocol).

Protocol (Weng et al., ATC'23, see ../shared/data/traces/README.md): openb_pod_list_default.csv
on openb_node_list_gpu_node.csv (1,213 nodes, 6,212 GPUs); pods sampled with replacement and
shuffled until their GPU requests reach 130% of capacity; no departures; failed pods count as
arrived; ties go to a fixed node order shuffled once per seed (the snapshot's slot order);
typical pods keyed by (cpu, gpu milli, gpu count, model) covering 95% of the original trace,
CPU-only pods included. Reported: allocated GPU milli / (6,212 x 1000) when arrived requests
reach 100% and 130% of capacity, averaged over ten seeds.

Strategies: binpack, best_fit, fgd (the paper's integer score int(100*sigmoid(-delta/1000))),
and fgd+strand (ours, the headline: the same integer FGD score, but the fragmentation also counts
the free GPU milli a node's remaining CPU can no longer serve at the typical GPU pods' CPU per GPU
milli; policy flag ``fgd_stranding``). The variant was chosen on seeds 100-109, reported on 0-9;
its gain over fgd is also reported per seed (paired: same arrivals, same node order).

Run: .venv/bin/python -m benchmarks.placement_fgd_alibaba [--seeds N] [--seed0 S]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time

import numpy as np

from libs.placement import NodeSpec, PlacementPolicy, PodSet, Snapshot, Strategy, Workload, place, typical_pods
from libs.placement.model import gpu_models_from_spec

from .placement_common import TRACES, write_result

TRACE = TRACES / "alibaba-gpu-2023"
CMD = ".venv/bin/python -m benchmarks.placement_fgd_alibaba"
PAPER = {"best_fit": (92.9, 93.1), "fgd": (95.2, 95.4)}


def load() -> tuple[list[NodeSpec], list[dict]]:
    """Return the trace's GPU nodes and pods."""
    with open(TRACE / "openb_node_list_gpu_node.csv") as f:
        nodes = [NodeSpec(r["sn"], int(r["cpu_milli"]), int(r["memory_mib"]), int(r["gpu"]), r["model"])
                 for r in csv.DictReader(f)]
    with open(TRACE / "openb_pod_list_default.csv") as f:
        pods = [dict(cpu=int(r["cpu_milli"]), mem=int(r["memory_mib"]), k=int(r["num_gpu"]),
                     milli=int(r["gpu_milli"]), models=gpu_models_from_spec(r["gpu_spec"]))
                for r in csv.DictReader(f)]
    return nodes, pods


def policies(pods: list[dict]) -> dict[str, PlacementPolicy]:
    """Return the strategies compared, with typical pods from the original trace."""
    mix = typical_pods([(p["cpu"], p["milli"] if p["k"] else 0, p["k"], p["models"]) for p in pods])
    return {
        "binpack": PlacementPolicy(Strategy.BINPACK),
        "best_fit": PlacementPolicy(Strategy.BEST_FIT),
        "fgd": PlacementPolicy(Strategy.FGD, typical_pods=mix, fgd_quantized=True),
        "fgd+strand": PlacementPolicy(Strategy.FGD, typical_pods=mix, fgd_quantized=True, fgd_stranding=True),
    }

HEADLINE = "fgd+strand"


def sample(pods: list[dict], capacity: int, rng: np.random.Generator) -> list[dict]:
    """Return pods drawn with replacement, in random order, until requests reach 130% of capacity."""
    out, asked = [], 0
    while asked < 1.3 * capacity:
        p = pods[int(rng.integers(len(pods)))]
        out.append(p)
        asked += p["k"] * p["milli"]
    return out


def replay(nodes: list[NodeSpec], arrivals: list[dict], policy: PlacementPolicy, capacity: int) -> tuple[float, float]:
    """Return the GPU allocation ratio (%) at 100% and 130% arrived."""
    snap = Snapshot.from_nodes(nodes)
    asked = allocated = 0
    at100 = None
    for i, p in enumerate(arrivals):
        pod_set = PodSet("p", 1, p["cpu"], p["mem"], p["k"], p["milli"] if p["k"] else 1000, p["models"])
        result = place(snap, Workload(f"w{i}", (pod_set,)), policy)
        asked += p["k"] * p["milli"]
        if result.placed:
            allocated += p["k"] * p["milli"]
        if at100 is None and asked >= capacity:
            at100 = 100.0 * allocated / capacity
    return at100 or 0.0, 100.0 * allocated / capacity


def paired_gain(ours: list[tuple[float, float]], base: list[tuple[float, float]]) -> dict[str, dict]:
    """Return the per-seed gain of ``ours`` over ``base`` at 100% and 130% arrived: mean, min, seeds improved."""
    out = {}
    for i, point in enumerate(("at_100", "at_130")):
        d = np.array([a[i] - b[i] for a, b in zip(ours, base)])
        out[point] = {"mean": round(float(d.mean()), 2), "min": round(float(d.min()), 2),
                      "max": round(float(d.max()), 2), "improved": f"{int((d > 0).sum())}/{len(d)}"}
    return out


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--seeds", type=int, default=10)
    args.add_argument("--seed0", type=int, default=0, help="first seed (variants were chosen on 100-109)")
    opts = args.parse_args(argv)
    if not (TRACE / "openb_pod_list_default.csv").exists():
        reason = f"trace not found at {TRACE}"
        print(f"placement_fgd_alibaba: SKIPPED, {reason}")
        write_result("placement_fgd_alibaba", None, "% GPU allocated at 130% arrived", True,
                     95.4, CMD, target_strict=True, skipped=reason)
        return 0
    nodes, pods = load()
    capacity = sum(n.gpu_count for n in nodes) * 1000
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in policies(pods)}
    t0 = time.perf_counter()
    seeds = range(opts.seed0, opts.seed0 + opts.seeds)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        arrivals = sample(pods, capacity, rng)
        order = [nodes[i] for i in rng.permutation(len(nodes))]  # fixed node order for this seed
        for name, policy in policies(pods).items():
            ratios[name].append(replay(order, arrivals, policy, capacity))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1][0]:.1f}/{v[-1][1]:.1f}" for k, v in ratios.items()),
              file=sys.stderr)
    summary = {k: (round(float(np.mean([a for a, _ in v])), 2), round(float(np.mean([b for _, b in v])), 2))
               for k, v in ratios.items()}
    for k, (a, b) in summary.items():
        paper = PAPER.get(k)
        print(f"{k:10s} GPU allocation {a:5.1f}% at 100% arrived, {b:5.1f}% at 130% arrived"
              + (f"   (paper {paper[0]}/{paper[1]})" if paper else ""))
    gain = paired_gain(ratios[HEADLINE], ratios["fgd"])
    print(f"{HEADLINE} - fgd per seed: " + "; ".join(
        f"{k} mean {v['mean']:+.2f} (min {v['min']:+.2f}, improved {v['improved']})" for k, v in gain.items()))
    best = max(summary, key=lambda k: summary[k][1])
    print(f"best: {best}; seeds {seeds.start}-{seeds.stop - 1} in {time.perf_counter() - t0:.0f}s; "
          "target: beat FGD 95.2/95.4")
    head = summary[HEADLINE]
    write_result("placement_fgd_alibaba", head[1], "% GPU allocated at 130% arrived", True,
                 95.4, CMD, target_strict=True, target_desc="beat the paper's FGD (95.4 at 130% arrived)",
                 headline=HEADLINE, at_100=head[0], strategies=summary,
                 paper=PAPER, seeds=opts.seeds, seed0=opts.seed0, baseline=summary["best_fit"][1],
                 baseline_desc="best_fit in the same run", ratio=round(head[1] / summary["best_fit"][1], 4),
                 gain_over_fgd_same_run=round(head[1] - summary["fgd"][1], 2), gain_over_fgd_per_seed=gain,
                 per_seed={k: [[round(a, 2), round(b, 2)] for a, b in ratios[k]] for k in ("fgd", HEADLINE)},
                 note="gain over fgd paired per seed (same arrivals and node order); "
                      "seed-to-seed spread of each strategy is about +-0.2 points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
