"""Side-by-side markdown of several replay summaries (e.g. one trace under FIFO, priority, fair sharing)."""

from __future__ import annotations

import json
from pathlib import Path

H = 3600.0


def load_summaries(run_dirs: list[Path]) -> list[dict]:
    """Return the summary.json of each run directory, in order."""
    return [json.loads((Path(d) / "summary.json").read_text()) for d in run_dirs]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def overall_table(summaries: list[dict]) -> str:
    """Return one row per run with the fleet-wide figures."""
    rows = []
    for s in summaries:
        o = s["overall"]
        rows.append([f"**{s['name']}**", f"{o['avg_queue_s'] / H:.2f}", f"{o['p50_queue_s'] / H:.2f}",
                     f"{o['p99_queue_s'] / H:.1f}", f"{o['avg_jct_s'] / H:.2f}", f"{o['p99_jct_s'] / H:.1f}",
                     f"{o['avg_gpu_allocation']:.1%}", f"{o.get('avg_stranded_share', float('nan')):.1%}", f"{o['fairness_gap']:.1%}",
                     f"{o['preemptions']:,}", f"{o['lost_gpu_hours']:,.0f}", f"{o['makespan_s'] / 86400:.1f}",
                     f"{o['unfinished']:,}"])
    return _table(["run", "queue avg h", "queue p50 h", "queue p99 h", "JCT avg h", "JCT p99 h", "GPU alloc",
                   "stranded GPUs", "fairness gap", "preemptions", "lost GPU-h", "makespan d", "unfinished"], rows)


def team_queue_table(summaries: list[dict]) -> str:
    """Return per-team queueing delay (avg / p99 hours) under each run, teams by job count."""
    teams = sorted(summaries[0]["teams"], key=lambda t: -t["jobs"])
    by_run = [{t["name"]: t for t in s["teams"]} for s in summaries]
    rows = []
    for team in teams:
        name = team["name"]
        cells = [f"{r[name]['avg_queue_s'] / H:.2f} / {r[name]['p99_queue_s'] / H:.1f}" for r in by_run]
        rows.append([name, f"{team['jobs']:,}", f"{team['nominal_gpus']:.0f}"] + cells)
    return _table(["team (VC)", "jobs", "nominal GPUs"] + [f"{s['name']} avg / p99 h" for s in summaries], rows)


def team_fairness_table(summaries: list[dict]) -> str:
    """Return per-team mean fair share vs mean GPUs received, and the shortfall, under each run."""
    teams = sorted(summaries[0]["teams"], key=lambda t: -t["nominal_gpus"])
    by_run = [{t["name"]: t for t in s["teams"]} for s in summaries]
    rows = []
    for team in teams:
        name = team["name"]
        cells = [f"{r[name]['avg_fair_gpus']:.0f} → {r[name]['avg_alloc_gpus']:.0f} ({r[name]['fair_shortfall']:.0%})"
                 for r in by_run]
        rows.append([name, f"{team['entitled_share']:.1%}"] + cells)
    return _table(["team (VC)", "entitled"] + [f"{s['name']}: fair → received (shortfall)" for s in summaries],
                  rows)


def render(summaries: list[dict]) -> str:
    """Return the three tables as markdown sections."""
    return "\n\n".join(["### Fleet-wide", overall_table(summaries),
                        "### Queueing delay per team (hours, average / p99)", team_queue_table(summaries),
                        "### Fair share vs received, per team (mean GPUs over time)", team_fairness_table(summaries)])
