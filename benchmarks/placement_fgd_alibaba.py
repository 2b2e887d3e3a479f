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
import sys
import time

from libs.placement import PlacementPolicy, Strategy

from .placement_common import write_result
from .placement_fgd_protocol import (Pod, arrivals_and_order, available, capacity, load, mean_ratios, paired_gain,
                                     replay, typical_mix)

CMD = ".venv/bin/python -m benchmarks.placement_fgd_alibaba"
PAPER = {"best_fit": (92.9, 93.1), "fgd": (95.2, 95.4)}
HEADLINE = "fgd+strand"


def policies(pods: list[Pod]) -> dict[str, PlacementPolicy]:
    """Return the strategies compared, with typical pods from the original trace."""
    mix = typical_mix(pods)
    return {
        "binpack": PlacementPolicy(Strategy.BINPACK),
        "best_fit": PlacementPolicy(Strategy.BEST_FIT),
        "fgd": PlacementPolicy(Strategy.FGD, typical_pods=mix, fgd_quantized=True),
        "fgd+strand": PlacementPolicy(Strategy.FGD, typical_pods=mix, fgd_quantized=True, fgd_stranding=True),
    }


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--seeds", type=int, default=10)
    args.add_argument("--seed0", type=int, default=0, help="first seed (variants were chosen on 100-109)")
    opts = args.parse_args(argv)
    if not available():
        reason = "trace not found (see benchmarks/placement_fgd_protocol.TRACE)"
        print(f"placement_fgd_alibaba: SKIPPED, {reason}")
        write_result("placement_fgd_alibaba", None, "% GPU allocated at 130% arrived", True,
                     95.4, CMD, target_strict=True, skipped=reason)
        return 0
    nodes, pods = load()
    cap = capacity(nodes)
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in policies(pods)}
    t0 = time.perf_counter()
    seeds = range(opts.seed0, opts.seed0 + opts.seeds)
    for seed in seeds:
        arrivals, order = arrivals_and_order(pods, nodes, seed)
        for name, policy in policies(pods).items():
            ratios[name].append(replay(order, arrivals, policy, cap))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1][0]:.1f}/{v[-1][1]:.1f}" for k, v in ratios.items()),
              file=sys.stderr)
    summary = {k: mean_ratios(v) for k, v in ratios.items()}
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
