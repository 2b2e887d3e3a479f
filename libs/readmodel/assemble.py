"""Pure assembly of the workload read model from the rows each service keeps (no I/O: unit-tested alone).

Rows are mappings (asyncpg records or dicts) shaped as libs/readmodel/sources.py selects them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from libs.readmodel.records import Step, Waiting, WorkloadSummary

Row = Mapping[str, object]
PLACEMENT_TOPIC = {"WorkloadPlaced", "WorkloadUnschedulable"}  # the scheduler's word on where, in its order
KINDS = {"WorkloadPlaced": "placed", "WorkloadUnschedulable": "unschedulable", "PreemptionRequested": "preempted",
         "WorkloadEvicted": "evicted", "WorkloadRunning": "running", "WorkloadSucceeded": "succeeded",
         "WorkloadFailed": "failed", "WorkloadCancelled": "cancelled"}


def as_json(value) -> dict:
    """Returns a jsonb column's value as a dict (asyncpg hands jsonb over as text without a codec)."""
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def pod_set_flavors(quota: Row | None) -> dict[str, tuple[str, ...]]:
    """Returns the current reservation's flavors per pod set (empty while not reserved)."""
    admission = as_json(quota["admission"]) if quota else {}
    return {p["pod_set"]: tuple(sorted(set(p["flavors"].values()))) for p in admission.get("pod_sets", ())}


def state_of(quota: Row | None, verdict: Row | None) -> str:
    """Returns pending, running, suspended, finished or refused (see records.STATES)."""
    if quota is None:
        return "refused" if verdict is not None and verdict["outcome"] == "rejected" else "pending"
    if quota["state"] in ("finished", "suspended"):  # suspended: holds no quota and waits in no queue until resumed
        return quota["state"]
    return "running" if quota["state"] == "reserved" and quota["placed"] else "pending"


def outcome_of(events: Sequence[Row]) -> str | None:
    """Returns how a finished workload ended: succeeded, cancelled or failed (None: no end seen yet)."""
    types = {e["type"] for e in events}
    if "WorkloadSucceeded" in types:
        return "succeeded"
    if "WorkloadCancelled" in types or any(e["type"] == "WorkloadFailed" and e["reason"] == "cancelled"
                                           for e in events):
        return "cancelled"
    return "failed" if any(e["type"] == "WorkloadFailed" and not as_json(e.get("detail")).get("retried")
                           for e in events) else None


def summarize(workload_id: str, quota: Row | None, verdict: Row | None, events: Sequence[Row],
              position: int | None, cost_micros: int) -> WorkloadSummary:
    """Returns one workload's summary from quota's row, admission's verdict and its timeline."""
    state = state_of(quota, verdict)
    tenant = quota or verdict or {}
    placed = [e for e in events if e["type"] == "WorkloadPlaced"]
    return WorkloadSummary(
        workload_id=workload_id, org=tenant.get("org"), team=tenant.get("team"),
        name=quota["name"] if quota else None, kind=quota["kind"] if quota else None,
        local_queue=quota["local_queue"] if quota else (verdict or {}).get("queue"),
        cluster_queue=quota["cluster_queue"] if quota else None, state=state,
        outcome=outcome_of(events) if state == "finished" else None,
        priority=quota["priority"] if quota else None,
        flavors=tuple(sorted({f for fs in pod_set_flavors(quota).values() for f in fs})),
        cluster=placed[-1]["cluster"] if placed else None,
        position=position if state == "pending" and quota is not None and quota["state"] != "reserved" else None,
        submitted_at=verdict["decided_at"] if verdict else None, cost_micros=cost_micros,
        attempts=quota["attempts"] if quota else 0, failures=quota.get("failures") or 0 if quota else 0)


def waiting_of(summary: WorkloadSummary, quota: Row | None, events: Sequence[Row],
               scheduler_reason: str | None) -> Waiting | None:
    """Returns why a pending workload waits now, from whichever service holds it; None unless pending."""
    if summary.state != "pending":
        return None
    if quota is None:
        return Waiting("admission", None, "accepted by admission; quota has not seen it yet")
    if quota["state"] != "reserved":
        return Waiting("quota", quota["pending_reason"] or "Queued", quota["pending_message"] or "not yet considered",
                       summary.position, quota["cluster_queue"])
    said = [e for e in events if e["type"] in PLACEMENT_TOPIC]
    latest = said[-1] if said and said[-1]["type"] == "WorkloadUnschedulable" else None  # said only on a change
    message = scheduler_reason or (latest["message"] if latest else None)
    code = (latest["reason"] if latest else None) or ("Unschedulable" if message else "Queued")
    return Waiting("scheduler", code, message or "quota reserved it; the scheduler has not placed it yet",
                   cluster_queue=quota["cluster_queue"])


def trace_id(quota: Row | None, audit: Sequence[Row] = ()) -> str | None:
    """Returns the W3C trace id of the submission's trace: as quota stored it with the workload, else (a refused
    workload, or one quota has not seen yet) as admission's audit row of the submission kept it."""
    parent = as_json(quota["trace"]).get("traceparent", "") if quota else ""
    parts = parent.split("-")
    if len(parts) == 4:
        return parts[1]
    submits = [a for a in audit if (a.get("action") or "submit") == "submit" and a.get("trace_id")]
    accepted = [a for a in submits if a["outcome"] == "accepted"]
    return (accepted or submits)[-1]["trace_id"] if submits else None


# A request about an admitted workload (admission's audit action) → the step's kind when carried out / refused.
REQUEST_KINDS = {"cancel": ("cancel-requested", "cancel-refused"), "suspend": ("suspend-requested", "suspend-refused"),
                 "resume": ("resume-requested", "resume-refused"),
                 "priority": ("priority-changed", "priority-refused")}


def audit_step(row: Row) -> Step:
    """Returns admission's decision on a submission or on a request about the workload (cancel, suspend, resume,
    priority) as a step."""
    accepted, action = row["outcome"] == "accepted", row.get("action") or "submit"
    done, refused = REQUEST_KINDS.get(action, ("submitted", "refused"))
    facts = {"by": row.get("subject"), "queue": row.get("queue"), "priority_class": row.get("priority_class")}
    return Step(done if accepted else refused, "admission", row["decided_at"], row.get("reason"),
                row.get("message"), {k: v for k, v in facts.items() if v}, rule=row.get("rule"))


def event_step(row: Row) -> Step:
    """Returns a timeline row (cost reporting's workload_events) as a step."""
    detail = as_json(row["detail"])
    facts = {k: v for k, v in detail.items() if v not in (None, [], "") and k != "retried"}
    if row["cluster"]:
        facts["cluster"] = row["cluster"]
    kind = "retried" if row["type"] == "WorkloadFailed" and detail.get("retried") else KINDS.get(row["type"],
                                                                                                  row["type"])
    return Step(kind, row["producer"], row["occurred_at"], row["reason"], row["message"], facts)


def reservation_step(quota: Row) -> Step:
    """Returns quota's current reservation (cluster queue and flavor per pod set) as a step."""
    at = datetime.fromtimestamp(quota["reserved_at"], UTC) if quota.get("reserved_at") else None
    return Step("reserved", "quota", at, facts={"cluster_queue": quota["cluster_queue"],
                                                "flavors": pod_set_flavors(quota)})


RUN_STEPS = frozenset({"running", "succeeded", "failed", "retried", "evicted"})  # the runner's word on a run
ENDS_RUN = frozenset({"succeeded", "failed", "retried", "evicted"})


def runs_in_order(steps: list[Step]) -> list[Step]:
    """Returns ``steps`` with each run's own steps (running, its end) after the placement that started it. Cost
    reporting records the placement topic and the lifecycle topic in the order it reads them, and the runner's
    "running" can be read before the scheduler's "placed"; a run step with no placement open waits for the next
    one (or stays at the end: an object deleted before it was ever placed also ends "failed")."""
    ordered, waiting, open_runs = [], [], 0
    for step in steps:
        if step.kind in RUN_STEPS and open_runs == 0:
            waiting.append(step)
            continue
        ordered.append(step)
        if step.kind == "placed":
            open_runs += 1
            for held in waiting:
                ordered.append(held)
                if held.kind in ENDS_RUN:
                    open_runs -= 1
            waiting = []
        elif step.kind in ENDS_RUN:
            open_runs -= 1
    return ordered + waiting


def steps_of(audit: Sequence[Row], quota: Row | None, events: Sequence[Row]) -> tuple[Step, ...]:
    """Returns the timeline: admission's verdict, then the scheduler's and the connector's events in the order cost
    reporting handled them, with quota's current reservation before the placement it led to, each cancel request
    before the cancellation it caused, and each suspend, resume or priority request after the last step its
    decision time follows (the services' clocks differ, so order is by time only where nothing better is known)."""
    steps = runs_in_order([event_step(e) for e in events])
    if quota is not None and quota["state"] == "reserved":
        placed = [i for i, s in enumerate(steps) if s.kind == "placed"]
        at = placed[-1] if quota["placed"] and placed else len(steps)
        while at > 0 and steps[at - 1].kind == "unschedulable":  # the scheduler's words on this reservation
            at -= 1
        steps.insert(at, reservation_step(quota))
    submits = [audit_step(a) for a in audit if (a.get("action") or "submit") == "submit"]
    for cancel in (audit_step(a) for a in audit if a.get("action") == "cancel"):
        ends = [i for i, s in enumerate(steps) if s.kind == "cancelled" or s.reason == "cancelled"]
        steps.insert(ends[0] if ends and cancel.kind == "cancel-requested" else len(steps), cancel)
    for request in (audit_step(a) for a in audit if a.get("action") in ("suspend", "resume", "priority")):
        after = [i for i, s in enumerate(steps) if s.at is not None and request.at is not None and s.at <= request.at]
        steps.insert(after[-1] + 1 if after else 0, request)
    return tuple(submits + steps)
