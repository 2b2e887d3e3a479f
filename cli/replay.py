"""``batchyard replay``: replay a workload trace on the pure quota and placement cores.

    batchyard replay run deploy/replay/philly-fair-share.yaml
    batchyard replay compare --a deploy/replay/philly-fair-share.yaml --b deploy/replay/philly-whatif-fgd.yaml
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import CommandGroup, fail

NAME = "replay"
app = CommandGroup(help="Replay a workload trace (Philly, Alibaba openb, job YAML) on simulated time.",
                   no_args_is_help=True)
console = Console()


def _load(path: Path, limit: int | None):
    from libs.replay.config import ReplayConfigError, load_replay_config
    try:
        config = load_replay_config(path)
    except ReplayConfigError as exc:
        fail(str(exc))
    if limit is not None:
        config = config.model_copy(update={"trace": config.trace.model_copy(update={"limit": limit})})
    return config


def _run(config, label: str):
    """Return the replay result, showing a progress bar over simulated time."""
    from libs.replay.runner import prepare, read_trace
    from libs.replay.trace import TraceError
    try:
        trace = read_trace(config)
        sim = prepare(config, trace)
    except (TraceError, ValueError) as exc:
        fail(str(exc))
    console.print(f"[dim]{trace.report.summary()}[/dim]")
    for note in trace.report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    last = config.horizon_s or max((j.arrival for j in trace.jobs), default=0.0)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("day {task.fields[day]:.1f}"),
               TextColumn("{task.fields[events]:,} events"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=max(last, 1.0), day=0.0, events=0)

        def progress(t: float, events: int) -> None:
            bar.update(task, completed=min(t, last), day=t / 86400, events=events)
        result = sim.run(progress)
        bar.update(task, completed=max(last, 1.0))
    return result


def _print_summary(summary: dict) -> None:
    o = summary["overall"]
    h = 3600.0
    console.print(f"[bold]{summary['name']}[/bold] ({summary['policy']}): {o['jobs']:,} jobs, {o['finished']:,} "
                  f"finished; avg JCT {o['avg_jct_s'] / h:.2f} h, p99 {o['p99_jct_s'] / h:.1f} h; queueing avg "
                  f"{o['avg_queue_s'] / h:.2f} h, p99 {o['p99_queue_s'] / h:.2f} h; GPU allocation "
                  f"{o['avg_gpu_allocation']:.1%}; fragmentation {o['avg_fragmentation']:.1%}; fairness gap "
                  f"{o['fairness_gap']:.1%}; {o['preemptions']:,} preemptions; makespan {o['makespan_s'] / 86400:.1f} d")
    table = Table("team", "jobs", "queue avg h", "queue p99 h", "JCT avg h", "entitled", "received", "fair shortfall",
                  "preempted")
    for t in summary["teams"]:
        table.add_row(t["name"], f"{t['jobs']:,}", f"{t['avg_queue_s'] / h:.2f}", f"{t['p99_queue_s'] / h:.2f}",
                      f"{t['avg_jct_s'] / h:.2f}", f"{t['entitled_share']:.1%}", f"{t['received_share']:.1%}",
                      f"{t['fair_shortfall']:.1%}", str(t["preemptions"]))
    console.print(table)


@app.command("run")
def run(config: Path = typer.Argument(..., help="A replay config YAML (see docs/replay.md)."),
        out: Path = typer.Option(None, help="Output directory (default var/replay/<name>)."),
        limit: int = typer.Option(None, help="Replay only the first N jobs of the trace."),
        plots: bool = typer.Option(True, help="Write PNG plots.")) -> None:
    """Replay one configuration; write workloads.csv, series.csv, summary.json and PNGs."""
    from libs.replay.metrics import summary
    from libs.replay.output import write_all
    cfg = _load(config, limit)
    result = _run(cfg, cfg.name)
    out = out or Path("var/replay") / cfg.name
    written = write_all(result, out, plots=plots)
    _print_summary(summary(result))
    console.print(f"wrote {', '.join(str(p) for p in written.values())}")


@app.command("compare")
def compare(a: Path = typer.Option(..., "--a", help="Configuration A (baseline), or a run directory of A."),
            b: Path = typer.Option(..., "--b", help="Configuration B (what-if), or a run directory of B."),
            out: Path = typer.Option(None, help="Output directory (default var/replay/<a>-vs-<b>)."),
            limit: int = typer.Option(None, help="Replay only the first N jobs of the trace."),
            plots: bool = typer.Option(True, help="Write PNG plots of both runs.")) -> None:
    """Replay the same trace under A and B and show the differences side by side.

    A directory written by ``replay run`` (with summary.json) is reused instead of replayed.
    """
    from libs.replay.compare import compare_summaries
    names = [p.stem if p.is_file() else p.name for p in (a, b)]
    out = out or Path("var/replay") / f"{names[0]}-vs-{names[1]}"
    sa, sb = _summary_of(a, limit, out / "a", plots, "A"), _summary_of(b, limit, out / "b", plots, "B")
    report = compare_summaries(sa, sb)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    table = Table("scope", "figure", f"A {sa['name']}", f"B {sb['name']}", "change", "")
    for d in report["diffs"]:
        if d["scope"] != "overall" and d["verdict"] == "same":
            continue
        rel = f"{d['relative']:+.1%}" if d["relative"] is not None else f"{d['delta']:+.3g}"
        colour = {"better": "green", "worse": "red"}.get(d["verdict"], "dim")
        table.add_row(d["scope"], d["field"], f"{d['a']:.4g}", f"{d['b']:.4g}", rel, f"[{colour}]{d['verdict']}[/{colour}]")
    console.print(table)
    console.print(f"wrote {out}/compare.json")


def _summary_of(path: Path, limit: int | None, out: Path, plots: bool, label: str) -> dict:
    """Return the summary of a finished run directory, or replay the config and write it to ``out``."""
    from libs.replay.metrics import summary
    from libs.replay.output import write_all
    if path.is_dir():
        return json.loads((path / "summary.json").read_text())
    config = _load(path, limit)
    result = _run(config, f"{label} {config.name}")
    write_all(result, out, plots=plots)
    return summary(result)


@app.command("report")
def report(runs: list[Path] = typer.Argument(..., help="Run directories written by `replay run` (summary.json)."),
           out: Path = typer.Option(None, help="Write the markdown here (default: print it).")) -> None:
    """Render several runs side by side as markdown tables (fleet-wide, per-team queueing, fairness)."""
    from libs.replay.report import load_summaries, render
    text = render(load_summaries(runs))
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        console.print(f"wrote {out}")
