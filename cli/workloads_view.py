"""Rendering for ``batchyard workloads``: the list table, plain watch lines and the describe timeline (no I/O but
the console it is handed)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from cli.tables import console  # noqa: F401 - the workloads commands' console, re-exported
from libs.cost import format_dollars
from libs.quota.explain import ordinal
from libs.readmodel import Step, Waiting, WorkloadDetail, WorkloadSummary

HEADER = ("ID", "NAME", "KIND", "TEAM", "QUEUE", "STATE", "PRIORITY", "FLAVOR/CLUSTER", "POSITION", "AGE", "COST")


def age(since: datetime | None, now: datetime) -> str:
    """Returns how long ago ``since`` was, in its largest unit (45s, 12m, 3h, 2d); '-' if unknown."""
    if since is None:
        return "-"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def state_text(w: WorkloadSummary) -> str:
    return f"{w.state} ({w.outcome})" if w.outcome else w.state


def cells(w: WorkloadSummary, now: datetime) -> tuple[str, ...]:
    """Returns one workload's cells, in HEADER's order."""
    where = "/".join(p for p in (",".join(w.flavors), w.cluster or "") if p) or "-"
    queue = w.cluster_queue or w.local_queue or "-"
    return (w.workload_id, w.name or "-", w.kind or "-", f"{w.org}/{w.team}", queue, state_text(w),
            "-" if w.priority is None else str(w.priority), where, "-" if w.position is None else str(w.position),
            age(w.submitted_at, now), "$" + format_dollars(w.cost_micros))


def table(workloads: list[WorkloadSummary], now: datetime | None = None) -> Table:
    """Returns the list as a rich table with a header row."""
    now = now or datetime.now(UTC)
    t = Table(*HEADER, box=None, pad_edge=False, header_style="bold")
    for w in workloads:
        t.add_row(*cells(w, now))
    return t


def changes(before: dict[str, WorkloadSummary], after: list[WorkloadSummary]) -> list[WorkloadSummary]:
    """Returns the workloads that are new or whose state, position, placement or attempts changed."""
    def key(w: WorkloadSummary):
        return (w.state, w.outcome, w.position, w.cluster, w.flavors, w.attempts)
    return [w for w in after if w.workload_id not in before or key(before[w.workload_id]) != key(w)]


def watch_line(w: WorkloadSummary, now: datetime) -> str:
    """Returns one plain line for a workload that changed (``--watch`` in a pipe)."""
    c = dict(zip(HEADER, cells(w, now)))
    return (f"{now:%H:%M:%S} {w.workload_id} {c['STATE']} queue={c['QUEUE']} position={c['POSITION']} "
            f"where={c['FLAVOR/CLUSTER']} priority={c['PRIORITY']} cost={c['COST']}")


def requeues_text(w) -> str:
    """Returns ", 2 failed run(s) retried, 1 eviction(s) so far" (empty when quota never requeued it)."""
    evictions, failures = max(0, w.attempts - w.failures), w.failures
    parts = [f"{failures} failed run(s) retried"] * bool(failures) + [f"{evictions} eviction(s)"] * bool(evictions)
    return f", {', '.join(parts)} so far" if parts else ""


def step_line(step: Step) -> str:
    """Returns one timeline step in words, after its time and the service that said it."""
    at = f"{step.at:%Y-%m-%d %H:%M:%S}" if step.at else "-"
    return f"{at}  {step.source:<14} {step_words(step)}"


def step_words(step: Step) -> str:
    """Returns what happened in one timeline step, in words (the CLI's describe and the web view say the same)."""
    facts = step.facts
    what = {
        "submitted": lambda: f"accepted by admission (queue {facts.get('queue', '-')}, by {facts.get('by', '-')})",
        "refused": lambda: f"REFUSED by admission: {step.reason}" + (f" [rule {step.rule}]" if step.rule else ""),
        "reserved": lambda: f"quota reserved in cluster queue {facts['cluster_queue']}; flavors: " + "; ".join(
            f"{ps}={','.join(f)}" for ps, f in sorted(facts.get("flavors", {}).items())),
        "placed": lambda: f"placed on {facts.get('cluster')}: {len(facts.get('nodes', []))} node(s) "
                          f"{', '.join(facts.get('nodes', []))}",
        "unschedulable": lambda: f"unschedulable ({step.reason})",
        "preempted": lambda: f"preemption requested ({step.reason})" + (
            f" for {facts['preemptor']}" if facts.get("preemptor") else ""),
        "evicted": lambda: f"evicted from {facts.get('cluster')} ({step.reason}); quota requeues it",
        "running": lambda: f"running on {facts.get('cluster')}",
        "succeeded": lambda: f"succeeded on {facts.get('cluster')}",
        "failed": lambda: f"failed on {facts.get('cluster')} ({step.reason})" + (
            f", failed run {facts['attempt']}" if facts.get("attempt", 1) > 1 else ""),
        "retried": lambda: f"run failed on {facts.get('cluster')} ({step.reason}); failed run {facts.get('attempt')}"
                           f", retried: quota requeues it with backoff",
        "cancel-requested": lambda: f"cancel requested by {facts.get('by', '-')}",
        "cancel-refused": lambda: f"cancel refused ({step.reason})",
        "suspend-requested": lambda: f"suspended by {facts.get('by', '-')}",
        "suspend-refused": lambda: f"suspend refused ({step.reason})",
        "resume-requested": lambda: f"resumed by {facts.get('by', '-')}; queued again",
        "resume-refused": lambda: f"resume refused ({step.reason})",
        "priority-changed": lambda: f"priority class changed to {facts.get('priority_class', '-')} by "
                                    f"{facts.get('by', '-')}",
        "priority-refused": lambda: f"priority change to {facts.get('priority_class', '-')} refused ({step.reason})",
        "cancelled": lambda: "cancelled" + (f" by {facts['cancelled_by']}" if facts.get("cancelled_by") else ""),
    }.get(step.kind, lambda: step.kind)()
    quiet = ("submitted", "cancel-requested", "suspend-requested", "resume-requested", "priority-changed")
    words = f": {step.message}" if step.message and step.kind not in quiet else ""
    return f"{what}{words}"


def describe_lines(d: WorkloadDetail, now: datetime | None = None) -> list[str]:
    """Returns `workloads describe` as lines: the summary, why it waits now, the timeline, the trace id."""
    now, w = now or datetime.now(UTC), d.summary
    lines = [f"workload {w.workload_id} ({w.name or '-'}, {w.kind or '-'}) of {w.org}/{w.team}",
             f"state: {state_text(w)}" + requeues_text(w),
             f"queue: {w.local_queue or '-'} -> cluster queue {w.cluster_queue or '-'}; priority "
             f"{'-' if w.priority is None else w.priority}",
             f"submitted: {age(w.submitted_at, now)} ago; cost so far: ${format_dollars(w.cost_micros)}",
             f"trace: {d.trace_id or '-'}"]
    if w.state == "refused":
        refusal = next((s for s in d.steps if s.kind == "refused"), None)
        if refusal is not None:
            lines.append(f"refused by admission: {refusal.reason}" + (f" [rule {refusal.rule}]" if refusal.rule
                                                                       else "") + f": {refusal.message}")
    if d.waiting is not None:
        lines.append(waiting_line(d.waiting))
    lines.append("timeline:")
    lines += [f"  {step_line(s)}" for s in d.steps]
    return lines


def waiting_line(waiting: Waiting) -> str:
    """Returns why a pending workload waits now, in words: who holds it, where in line, the reason."""
    where = f", {ordinal(waiting.position)} in {waiting.cluster_queue}" if waiting.position else ""
    return f"waiting ({waiting.source}{where}): {waiting.reason or 'Queued'}: {waiting.message}"
