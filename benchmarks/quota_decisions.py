"""Quota decisions per second: 1,000 cluster queues in a 3-level cohort tree, 50,000 pending.

Run: .venv/bin/python -m benchmarks.quota_decisions [--workloads N] [--fair] [--seconds S] [--baseline REV]
Writes benchmarks/results/quota_decisions.json (name, value, unit, higher_is_better, target,
command, p99 latency, ...). A *decision* is one head of a cluster queue judged in a cycle:
admitted (with flavors), preempting, or left pending with a reason. Decision latency is the
wall time of the cycle that made it (every decision of a cycle is published when it ends).

Baseline (same run): the same load on ``libs/quota`` as of git revision REV (default: the core
before Kueue-exact semantics), in a subprocess, each baseline run right after the run it is
compared with, so both see the same machine load. ``--baseline none`` skips it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from libs.quota import QuotaConfig, QuotaEngine, ResourceFlavor, Why
from libs.quota.builders import local_queues_for, make_cluster_queue, make_cohort, make_workload

ORGS, TEAMS, QUEUES = 10, 10, 10  # root → 10 orgs → 100 teams → 1,000 cluster queues
TARGET = 5000.0
RESULTS = Path(__file__).parent / "results" / "quota_decisions.json"
ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "a703775"  # the core before issue 13 (Kueue-exact semantics)


def build_config(fair: bool) -> QuotaConfig:
    """Returns the 1,000-queue tree: GPU flavors (h100, a100) and CPU flavors (spot, on-demand).

    Quotas are (nominal, borrowingLimit[, lendingLimit]); the root cohort adds 64 shared a100.
    """
    cohorts = [make_cohort("root").flavor("a100", gpu=64).obj()]
    queues = []
    for o in range(ORGS):
        cohorts.append(make_cohort(f"org{o}").parent("root").weight(1 + o % 3).obj())
        for t in range(TEAMS):
            cohorts.append(make_cohort(f"org{o}-team{t}").parent(f"org{o}").obj())
            for q in range(QUEUES):
                b = (make_cluster_queue(f"q{o}-{t}-{q}").cohort(f"org{o}-team{t}")
                     .flavor("h100", gpu=(4, 4, 2)).flavor("a100", gpu=(2, 2))
                     .flavor("cpu-spot", cpu=(24, 8), memory=("96Gi", "32Gi"))
                     .flavor("cpu-ondemand", cpu=(8, 4), memory=("32Gi", "16Gi"))
                     .preemption(within="LowerPriority", reclaim="Any")
                     .strategy("StrictFIFO" if q == 0 else "BestEffortFIFO"))
                queues.append(b.obj())
    names = [q.name for q in queues]
    flavors = [ResourceFlavor(f, {"pool": f}) for f in ("h100", "a100", "cpu-spot", "cpu-ondemand")]
    return QuotaConfig.build(flavors=flavors, cohorts=cohorts, cluster_queues=queues,
                             local_queues=local_queues_for(*names), fair_sharing=fair)


def make_workloads(n: int, queues: list[str], rng: random.Random, first: int = 0, priorities=(-1, 2)):
    """Returns ``n`` workloads: 40% GPU training (1-8 GPU), 60% CPU batch (1-4 pods)."""
    out = []
    for i in range(first, first + n):
        b = make_workload(f"wl-{i}").queue(rng.choice(queues)).created(float(i)).priority(rng.randint(*priorities))
        if rng.random() < 0.4:
            b.request(cpu=rng.randint(4, 16), memory=f"{rng.randint(16, 64)}Gi", gpu=rng.choice([1, 2, 4, 8]))
        else:
            b.request(cpu=rng.randint(1, 8), memory=f"{rng.randint(1, 16)}Gi").count(rng.randint(1, 4))
        out.append(b.obj())
    return out


def run(n_workloads: int, fair: bool, max_seconds: float, seed: int = 7) -> dict:
    """Submits 80% up front and 20% (higher priority) in waves; cycles until all ran or time is up.

    Also stops after 20 cycles without an admission once every wave is in (what is left
    can never fit: e.g. StrictFIFO heads larger than the queue can ever hold).

    Every cycle 3% of running work finishes and every preemption target is evicted at once
    (the connector's part), so the tree stays full and heads contend, borrow and preempt.
    """
    rng = random.Random(seed)
    config = build_config(fair)
    engine = QuotaEngine(config)
    queues = sorted(config.cluster_queues)
    upfront = int(n_workloads * 0.8)
    t0 = time.perf_counter()
    for wl in make_workloads(upfront, queues, rng):
        engine.add_workload(wl, 0.0)
    submit_s = time.perf_counter() - t0
    waves = make_workloads(n_workloads - upfront, queues, rng, first=upfront, priorities=(3, 5))
    latencies, reasons, admitted, preemptions, now = [], {}, 0, 0, 0.0
    ever_admitted, idle_cycles, cpu_s = set(), 0, 0.0
    started = time.perf_counter()
    while time.perf_counter() - started < max_seconds and len(ever_admitted) < n_workloads and idle_cycles < 20:
        now += 1.0
        for wl in waves[:500]:
            engine.add_workload(wl, now)
        waves = waves[500:]
        t, cpu = time.perf_counter(), time.process_time()
        result = engine.run_cycle(now)
        latencies.append((time.perf_counter() - t, result.decisions))
        cpu_s += time.process_time() - cpu
        admitted += len(result.admitted)
        ever_admitted.update(a.workload_id for a in result.admitted)
        idle_cycles = 0 if (result.admitted or waves) else idle_cycles + 1  # the rest never fit
        for pending in result.pending:
            reasons[pending.why.reason.value] = reasons.get(pending.why.reason.value, 0) + 1
        for p in result.preempting:  # the connector evicts at once
            preemptions += len(p.targets)
            for target in p.targets:
                engine.evict(target.workload_id, Why(target.reason, "preempted"), now)
        for wid in rng.sample(sorted(engine.reservations), k=len(engine.reservations) * 3 // 100):
            engine.finish(wid)
    wall = time.perf_counter() - started
    return _summary(config, engine, fair, n_workloads, latencies, reasons, admitted, ever_admitted,
                    preemptions, upfront / submit_s, wall) | {"decisions_per_cpu_second": _rate(latencies, cpu_s)}


def _rate(latencies, cpu_s: float) -> float:
    """Returns decisions per second of this process's CPU time in cycles (less sensitive to machine load)."""
    return sum(d for _, d in latencies) / cpu_s if cpu_s else 0.0


def _summary(config, engine, fair, n_workloads, latencies, reasons, admitted, ever_admitted,
             preemptions, submit_rate, wall) -> dict:
    """Returns the figures of one run."""
    decisions = sum(d for _, d in latencies)
    cycle_s = sum(s for s, _ in latencies)
    per_decision = sorted(s for s, d in latencies for _ in range(d))  # each decision waits its cycle
    p = lambda q: per_decision[min(len(per_decision) - 1, int(q * len(per_decision)))] if per_decision else 0.0  # noqa: E731
    return {
        "fair_sharing": fair, "workloads": n_workloads, "cluster_queues": len(config.cluster_queues),
        "cohorts": len(config.cohorts), "cycles": len(latencies), "decisions": decisions,
        "admissions": admitted, "distinct_admitted": len(ever_admitted), "preemptions": preemptions,
        "pending_reasons": reasons, "still_pending_at_end": sum(len(q) for q in engine.pending.values()),
        "decisions_per_second": decisions / cycle_s if cycle_s else 0.0,
        "decisions_per_second_incl_bookkeeping": decisions / wall if wall else 0.0,
        "admissions_per_second": admitted / cycle_s if cycle_s else 0.0,
        "p50_decision_latency_ms": 1000 * p(0.50), "p99_decision_latency_ms": 1000 * p(0.99),
        "max_cycle_ms": 1000 * max((s for s, _ in latencies), default=0.0),
        "mean_cycle_ms": 1000 * statistics.mean(s for s, _ in latencies) if latencies else 0.0,
        "submit_per_second": submit_rate, "wall_seconds": wall,
    }


def baseline_run(rev: str, n_workloads: int, fair: bool, max_seconds: float) -> dict:
    """Runs ``run`` in a subprocess whose ``libs.quota`` is the one at git revision ``rev``."""
    with tempfile.TemporaryDirectory() as tmp:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "libs/__init__.py", "libs/quota"],
                             check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(tmp, filter="data")
        code = ("import json, sys; from benchmarks.quota_decisions import run; "
                f"print(json.dumps(run({n_workloads}, {fair}, {max_seconds})))")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(ROOT)])}
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env,
                             cwd=tmp).stdout
    return json.loads(out.splitlines()[-1])


def measured(args) -> tuple[list[dict], list[dict | None], list[float]]:
    """Returns this core's runs, the baseline's (same order, interleaved) and the load averages seen."""
    runs, baselines, loads = [], [], [os.getloadavg()[0]]
    for fair in ([True] if args.fair else [False, True]):
        runs.append(run(args.workloads, fair, args.seconds))
        loads.append(os.getloadavg()[0])
        baselines.append(None if args.baseline == "none" else
                         baseline_run(args.baseline, args.workloads, fair, args.seconds))
        loads.append(os.getloadavg()[0])
    return runs, baselines, loads


def _line(label: str, r: dict) -> str:
    return (f"{label} fair_sharing={r['fair_sharing']}: {r['decisions']} decisions in {r['cycles']} cycles, "
            f"{r['decisions_per_second']:.0f} decisions/s ({r['decisions_per_cpu_second']:.0f} per CPU second), "
            f"p99 {r['p99_decision_latency_ms']:.1f} ms, "
            f"admissions {r['admissions']}, preemptions {r['preemptions']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=90.0, help="stop the cycle loop after this long")
    parser.add_argument("--fair", action="store_true", help="only the fair-sharing run")
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the baseline core, or none")
    args = parser.parse_args(argv)
    runs, baselines, loads = measured(args)
    for r, b in zip(runs, baselines):
        print(_line("this core", r) + f" (target >= {TARGET:.0f})")
        if b is not None:
            print(_line(f"baseline {args.baseline}", b) +
                  f"; ratio {r['decisions_per_second'] / b['decisions_per_second']:.2f}")
    main_run, main_base = runs[0], baselines[0]
    ratio = main_run["decisions_per_second"] / main_base["decisions_per_second"] if main_base else None
    record = {
        "name": "quota_decisions", "value": round(main_run["decisions_per_second"], 1), "unit": "decisions/s",
        "higher_is_better": True, "target": TARGET, "meets_target": main_run["decisions_per_second"] >= TARGET,
        "p99_latency_ms": round(main_run["p99_decision_latency_ms"], 2),
        "command": ".venv/bin/python -m benchmarks.quota_decisions " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}, 2 cores shared",
        "baseline_desc": None if main_base is None else f"libs/quota at {args.baseline}, same load, same run",
        "ratio": None if ratio is None else round(ratio, 3),
        "cpu_ratio": None if main_base is None else round(
            main_run["decisions_per_cpu_second"] / main_base["decisions_per_cpu_second"], 3),
        "load_average_1m": [round(x, 2) for x in loads],
        "runs": [_rounded(r) for r in runs],
        "baseline_runs": [_rounded(b) for b in baselines if b is not None],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def _rounded(r: dict) -> dict:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}


if __name__ == "__main__":
    main()
