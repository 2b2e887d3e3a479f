"""Replay speed: the whole Philly trace (82,247 jobs) through the pure quota and placement cores.

Run: .venv/bin/python -m benchmarks.replay_philly [--config deploy/replay/philly-helios.yaml] [--limit N]
Writes benchmarks/results/replay_philly.json. The figure is the wall time of reading the trace,
building the fleet and quota tree, and replaying every event (arrivals, completions, node
failures and repairs, quota cycles, placements) on the Helios fleet model (352 nodes × 8 GPUs)
under fair sharing with borrowing. Target: under 60 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from benchmarks.record import RESULTS, write_result
from libs.replay import load_replay_config, prepare
from libs.replay.metrics import overall_stats
from libs.replay.runner import read_trace

DEFAULT_CONFIG = "deploy/replay/philly-helios.yaml"
TARGET_S = 60.0


def run(config_path: str, limit: int | None) -> dict:
    """Return the figures of one timed replay."""
    config = load_replay_config(config_path)
    if limit:
        config = config.model_copy(update={"trace": config.trace.model_copy(update={"limit": limit})})
    started, cpu0 = time.perf_counter(), time.process_time()
    trace = read_trace(config)
    sim = prepare(config, trace)
    ready = time.perf_counter()
    result = sim.run()
    done, cpu = time.perf_counter(), time.process_time() - cpu0
    overall = overall_stats(result)
    c = result.counters
    return {"config": config.name, "jobs": len(trace.jobs), "read_and_build_s": round(ready - started, 3),
            "replay_s": round(done - ready, 3), "total_s": round(done - started, 3),
            "cpu_s": round(cpu, 3), "load_average_1m": round(os.getloadavg()[0], 2),
            "events": c["events"], "events_per_s": round(c["events"] / (done - ready), 1),
            "quota_cycles": c["cycles"], "placements": c["placements"], "preemptions": c["preemptions"],
            "node_failures": c["node_failures"], "failure_evictions": c["failure_evictions"],
            "finished": overall["finished"], "simulated_days": round(result.end / 86400, 1),
            "avg_queue_s": round(overall["avg_queue_s"], 1), "avg_gpu_allocation": round(overall["avg_gpu_allocation"], 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N jobs (not recorded)")
    args = parser.parse_args(argv)
    figures = run(args.config, args.limit)
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    if args.limit:
        print("(--limit given: results file not written)")
        return
    command = ".venv/bin/python -m benchmarks.replay_philly" + ("" if args.config == DEFAULT_CONFIG else f" --config {args.config}")
    write_result("replay_philly", figures["total_s"], "s", False, TARGET_S, command,
                 meets_target=figures["total_s"] < TARGET_S,
                 machine=f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}, "
                         "2 cores shared", **figures)
    print(f"wrote {RESULTS / 'replay_philly.json'}")


if __name__ == "__main__":
    sys.exit(main())
