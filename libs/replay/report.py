"""Side-by-side markdown of several replay summaries (e.g. one trace under FIFO, priority, fair sharing)."""

from __future__ import annotations

import json
from collections.abc import Callable
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


def _team_rows(summaries: list[dict], order: Callable[[dict], float], lead: Callable[[dict], list[str]],
               cell: Callable[[dict], str]) -> list[list[str]]:
    """Return one row per team of the first run, sorted by ``order``: ``lead`` cells, then one ``cell`` per run."""
    by_run = [{t["name"]: t for t in s["teams"]} for s in summaries]
    return [lead(team) + [cell(r[team["name"]]) for r in by_run]
            for team in sorted(summaries[0]["teams"], key=order)]


def team_queue_table(summaries: list[dict]) -> str:
    """Return per-team queueing delay (avg / p99 hours) under each run, teams by job count."""
    rows = _team_rows(summaries, lambda t: -t["jobs"],
                      lambda t: [t["name"], f"{t['jobs']:,}", f"{t['nominal_gpus']:.0f}"],
                      lambda t: f"{t['avg_queue_s'] / H:.2f} / {t['p99_queue_s'] / H:.1f}")
    return _table(["team (VC)", "jobs", "nominal GPUs"] + [f"{s['name']} avg / p99 h" for s in summaries], rows)


def team_fairness_table(summaries: list[dict]) -> str:
    """Return per-team mean fair share vs mean GPUs received, and the shortfall, under each run."""
    rows = _team_rows(summaries, lambda t: -t["nominal_gpus"],
                      lambda t: [t["name"], f"{t['entitled_share']:.1%}"],
                      lambda t: f"{t['avg_fair_gpus']:.0f} → {t['avg_alloc_gpus']:.0f} ({t['fair_shortfall']:.0%})")
    return _table(["team (VC)", "entitled"] + [f"{s['name']}: fair → received (shortfall)" for s in summaries],
                  rows)


def render(summaries: list[dict]) -> str:
    """Return the three tables as markdown sections."""
    return "\n\n".join(["### Fleet-wide", overall_table(summaries),
                        "### Queueing delay per team (hours, average / p99)", team_queue_table(summaries),
                        "### Fair share vs received, per team (mean GPUs over time)", team_fairness_table(summaries)])
