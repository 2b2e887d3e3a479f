"""FGD, best-fit and ours on the openb trace WITH its departures, through ``batchyard replay`` (issue 17).

Run: .venv/bin/python -m benchmarks.replay_openb [--jobs 2] [--scale 0.007] [--limit N]

The FGD paper replays openb's pods as arrivals only, each staying forever, until 130 % of the GPUs are asked for.
Here every pod arrives at its creation time and leaves at its deletion time, on a fleet scaled to the trace's
demand (``fleet_scale``: that share of the 1,213 GPU nodes, shapes in proportion; the trace's busy weeks ask for
20 to 66 GPUs at once). The configs are ``deploy/replay/openb-departures-{fgd,best-fit,ours}.yaml``; ``ours``
is the scheduler's own policy file, its typical pods learned from the pods as they are reserved, where ``fgd`` is given
the whole trace's mix up front. One queue holds the fleet, its quota 100 times the fleet's, so every pod is
reserved on arrival and waits only for nodes. Figures (docs/replay.md): queueing delay (arrival to first start: the
headline), and, time-weighted over the whole replay, fragmentation (free GPU-seconds on partly used nodes / free
GPU-seconds), stranded share and GPU allocation. With departures, allocation is the trace's GPU-seconds over the
fleet's GPU-seconds until the last pod ends, so it only says how soon the trace was done. Writes
benchmarks/results/replay_openb.json (not with --limit).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from benchmarks.record import RESULTS, write_result
from libs.replay import load_replay_config, prepare
from libs.replay.metrics import overall_stats
from libs.replay.trace import TraceError

CMD = ".venv/bin/python -m benchmarks.replay_openb"
POLICIES = ("fgd", "best-fit", "ours")
CONFIG = "deploy/replay/openb-departures-{}.yaml"


def run(policy: str, scale: float | None, limit: int | None) -> dict:
    """Return the figures of one policy's replay."""
    config = load_replay_config(CONFIG.format(policy))
    update = {} if scale is None else {"fleet_scale": scale}
    if limit:
        update["trace"] = config.trace.model_copy(update={"limit": limit})
    config = config.model_copy(update=update)
    started = time.perf_counter()
    sim = prepare(config)
    result = sim.run()
    o, c = overall_stats(result), result.counters
    return {"policy": policy, "config": config.name, "fleet_scale": config.fleet_scale,
            "nodes": sim.snap.size, "gpus": int(sim.snap.gpu_cnt[: sim.snap.size].sum()), "jobs": o["jobs"],
            "finished": o["finished"], "unfinished": o["unfinished"], "never_fits": c["never_fits"],
            "gpu_allocation": round(o["avg_gpu_allocation"], 5), "fragmentation": round(o["avg_fragmentation"], 5),
            "stranded_share": round(o["avg_stranded_share"], 5), "avg_queue_s": round(o["avg_queue_s"], 1),
            "p50_queue_s": round(o["p50_queue_s"], 1), "p99_queue_s": round(o["p99_queue_s"], 1),
            "avg_jct_s": round(o["avg_jct_s"], 1), "makespan_d": round(o["makespan_s"] / 86400, 2),
            "placements": c["placements"], "placement_failures": c["placement_failures"],
            "typical_pods_at_end": len(sim.policy.typical_pods),
            "learned_from": sim.learner.mix.seen if sim.learner.mix is not None else None,
            "wall_s": round(time.perf_counter() - started, 1)}


def print_table(rows: list[dict]) -> None:
    head = ("policy", "GPU alloc %", "frag %", "stranded %", "queue avg h", "p50 h", "p99 h", "JCT avg h",
            "unfinished", "placement failures", "wall s")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(v) for v in (
            r["policy"], f"{100 * r['gpu_allocation']:.2f}", f"{100 * r['fragmentation']:.2f}",
            f"{100 * r['stranded_share']:.2f}", f"{r['avg_queue_s'] / 3600:.2f}", f"{r['p50_queue_s'] / 3600:.2f}",
            f"{r['p99_queue_s'] / 3600:.2f}", f"{r['avg_jct_s'] / 3600:.2f}", r["unfinished"],
            r["placement_failures"], r["wall_s"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="policies replayed in parallel processes")
    parser.add_argument("--scale", type=float, default=None, help="fleet_scale instead of the configs' 0.007")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pods (results file not written)")
    args = parser.parse_args(argv)
    if args.scale is not None and not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1], got {args.scale}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    try:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = []
            for row in pool.map(run, POLICIES, [args.scale] * len(POLICIES), [args.limit] * len(POLICIES)):
                rows.append(row)
                print(f"{row['policy']} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    except TraceError as exc:
        print(f"replay_openb: SKIPPED, {exc}")
        if not args.limit:
            write_result("replay_openb", None, "h mean queueing delay of ours (arrival to first start)",
                         False, "<= fgd and <= best-fit", CMD, skipped=str(exc))
        return 0
    print_table(rows)
    by = {r["policy"]: r for r in rows}
    queue = {p: round(r["avg_queue_s"] / 3600, 3) for p, r in by.items()}
    print(f"mean queueing delay: ours {queue['ours']} h, fgd {queue['fgd']} h, best-fit {queue['best-fit']} h")
    if args.limit:
        print("(--limit given: results file not written)")
        return 0
    write_result("replay_openb", queue["ours"], "h mean queueing delay of ours (arrival to first start)", False,
                 "<= fgd and <= best-fit", CMD + ("" if args.scale is None else f" --scale {args.scale}"),
                 meets_target=queue["ours"] <= min(queue["fgd"], queue["best-fit"]), mean_queue_h=queue,
                 policies=by, load_average_1m={"start": round(load0, 2), "end": round(os.getloadavg()[0], 2)},
                 elapsed_s=round(time.perf_counter() - t0))
    print(f"wrote {RESULTS / 'replay_openb.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
