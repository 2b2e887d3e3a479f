"""One workload's timeline for the web view: what ``batchyard workloads describe`` prints, as JSON.

The description is the read model's (``libs.readmodel.describe_workload``), read on the view's quota connection and
so scoped like every panel: row-level security hides another team's workload exactly as an unknown one, and the
view says ``unknown_workload`` for both (telling them apart would tell a team that another's workload exists).
"""

from __future__ import annotations

import json

from cli.reads import ReadRefused
from cli.ui.params import BadParameter
from cli.ui.reader import Reader

# A refusal's reason code -> its HTTP status; else the caller's input is a 400, and anything else (the platform not
# ready or unreachable) a 503.
STATUS = {"unknown_workload": 404, "permission_denied": 403, "scope_not_granted": 403}


def status_of(exc: Exception) -> int:
    """Returns the HTTP status of a BadParameter or ReadRefused."""
    if getattr(exc, "reason", None) in STATUS:
        return STATUS[exc.reason]
    return 400 if isinstance(exc, BadParameter) or getattr(exc, "exit_code", 1) == 2 else 503


async def read_timeline(reader: Reader, workload_id: str, scope: str) -> dict:
    """Returns the workload's description as JSON-ready data; ReadRefused (``unknown_workload`` and the rest of
    STATUS's reasons) when the view cannot show it."""
    detail = await reader.run("quota", _describe, workload_id)
    if detail is None:
        raise ReadRefused("unknown_workload", f"no workload {workload_id!r} that this view may read (reading as "
                          f"{scope}): no such id, or another team's", 1)
    return timeline_json(detail)


async def _describe(conn, workload_id: str):
    from libs.readmodel import NotReady, describe_workload
    try:
        return await describe_workload(conn, workload_id)
    except NotReady as exc:  # said as the CLI says it, with the service that creates the table
        raise ReadRefused("not_ready", f"{exc.service} has not created its tables in this database yet ({exc.table} "
                          "is missing); start it once and the timeline shows", 1) from None


def timeline_json(d) -> dict:
    """Returns a WorkloadDetail as plain data: the summary, why it waits now, the steps in the read model's order
    (each with the CLI's words for it) and the trace id."""
    from cli.workloads_view import state_text, step_words, waiting_line
    from libs.cost import format_dollars
    w = d.summary
    return {
        "workload": {"workload_id": w.workload_id, "name": w.name, "kind": w.kind, "org": w.org, "team": w.team,
                     "local_queue": w.local_queue, "cluster_queue": w.cluster_queue, "state": w.state,
                     "outcome": w.outcome, "state_text": state_text(w), "priority": w.priority,
                     "flavors": list(w.flavors), "cluster": w.cluster, "position": w.position,
                     "attempts": w.attempts, "submitted_at": _time(w.submitted_at),
                     "cost": format_dollars(w.cost_micros), "cost_micros": w.cost_micros},
        "trace_id": d.trace_id,
        "pod_set_flavors": {ps: list(fs) for ps, fs in sorted(d.pod_set_flavors.items())},
        "waiting": None if d.waiting is None else {
            "source": d.waiting.source, "reason": d.waiting.reason or "Queued", "message": d.waiting.message,
            "position": d.waiting.position, "cluster_queue": d.waiting.cluster_queue,
            "words": waiting_line(d.waiting)},
        "steps": [{"kind": s.kind, "source": s.source, "at": _time(s.at), "reason": s.reason, "message": s.message,
                   "rule": s.rule, "nodes": list(s.facts.get("nodes") or ()), "cluster": s.facts.get("cluster"),
                   "facts": json.loads(json.dumps(s.facts, default=str)), "words": step_words(s)} for s in d.steps]}


def _time(at) -> str | None:
    return at.isoformat() if at is not None else None
