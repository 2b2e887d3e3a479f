"""What batchyard writes back onto a job object (pure): a state, the reason and message, and conditions in the
Kubernetes style (QuotaReserved, Admitted, Running, Finished, Evicted), each changing its
lastTransitionTime only when its status flips; plus the Kubernetes Event that announces each change.

A BatchJob gets all of it in ``status``; other kinds (whose status belongs to their own controller) get the
state, reason and message as ``batchyard.dev/*`` annotations, and the same Events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

STATE_ANNOTATION, REASON_ANNOTATION, MESSAGE_ANNOTATION, WORKLOAD_ANNOTATION = (
    "batchyard.dev/state", "batchyard.dev/reason", "batchyard.dev/message", "batchyard.dev/workload-id")
MAX_MESSAGE = 2000
CONDITIONS = ("QuotaReserved", "Admitted", "Running", "Finished", "Evicted")
WARNING_STATES = frozenset({"Refused", "Invalid", "Failed", "Evicted", "Retrying"})


def utc_now() -> str:
    """Returns now as Kubernetes writes times (RFC 3339, seconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def camel(reason: str) -> str:
    """Returns a reason code as a Kubernetes condition reason: "never-fits" / "quota_exhausted" -> "NeverFits"."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", reason or "") if w]
    text = "".join(w[:1].upper() + w[1:] for w in words)
    return text if text[:1].isalpha() else f"R{text}" if text else "Unknown"


@dataclass(frozen=True)
class Change:
    """One step of a workload's story, as the object's owner should read it."""

    state: str  # Submitted, Pending, QuotaReserved, Admitted, Running, Succeeded, Failed, Evicted, Refused, Invalid
    reason: str
    message: str
    conditions: dict[str, bool]  # condition type -> status, for the conditions this step sets


def advance(status: dict, change: Change, *, now: str, workload_id: str, **fields) -> dict:
    """Returns ``status`` after ``change`` (conditions keep their transition time unless their status flips);
    ``fields`` adds facts such as clusterQueue or attempts."""
    conditions = {c["type"]: c for c in status.get("conditions") or ()}
    reason, message = camel(change.reason), change.message[:MAX_MESSAGE]
    for kind, value in change.conditions.items():
        old = conditions.get(kind)
        flipped = old is None or old.get("status") != ("True" if value else "False")
        conditions[kind] = {"type": kind, "status": "True" if value else "False", "reason": reason,
                            "message": message,
                            "lastTransitionTime": now if flipped else old.get("lastTransitionTime", now)}
    ordered = [conditions[k] for k in CONDITIONS if k in conditions]
    return {**status, **{k: v for k, v in fields.items() if v is not None}, "workloadId": workload_id,
            "state": change.state, "reason": reason, "message": message, "conditions": ordered}


def annotations_of(status: dict) -> dict[str, str]:
    """Returns the annotations that carry ``status`` on kinds whose status is not batchyard's."""
    return {WORKLOAD_ANNOTATION: status.get("workloadId", ""), STATE_ANNOTATION: status.get("state", ""),
            REASON_ANNOTATION: status.get("reason", ""), MESSAGE_ANNOTATION: status.get("message", "")}


def notice(change: Change) -> dict:
    """Returns the Kubernetes Event announcing ``change`` (type, reason, message)."""
    return {"type": "Warning" if change.state in WARNING_STATES else "Normal", "reason": camel(change.reason)
            if change.state in WARNING_STATES else change.state, "message": change.message[:1000]}


# The steps, named by what happened.

def submitted() -> Change:
    return Change("Submitted", "Submitted", "submitted to batchyard; waiting for admission", {})


def refused(reason: str, message: str) -> Change:
    return Change("Refused", reason, f"admission refused it: {message}", {"Finished": True})


def invalid(reason: str, message: str) -> Change:
    return Change("Invalid", reason, message, {"Finished": True})


def pending(reason: str, message: str) -> Change:
    return Change("Pending", reason, message, {"QuotaReserved": False, "Admitted": False})


def quota_reserved(cluster_queue: str, flavors: str) -> Change:
    return Change("QuotaReserved", "QuotaReserved", f"quota reserved in cluster queue {cluster_queue} "
                  f"({flavors}); waiting for nodes", {"QuotaReserved": True, "Evicted": False})


def waiting_for_nodes(reason: str, message: str) -> Change:
    return Change("QuotaReserved", reason, message, {"Admitted": False})


def admitted(pods: int, nodes: int, attempt: int) -> Change:
    return Change("Admitted", "Placed", f"{pods} pods placed on {nodes} nodes (attempt {attempt}); binding",
                  {"QuotaReserved": True, "Admitted": True})


def running(pods: int) -> Change:
    return Change("Running", "Running", f"all {pods} pods are running", {"Running": True})


def finished(succeeded: bool, message: str) -> Change:
    state = "Succeeded" if succeeded else "Failed"
    return Change(state, state, message, {"Finished": True, "Running": False})


def retrying(attempt: int, limit: int, message: str) -> Change:
    return Change("Retrying", "BackoffLimitNotReached", f"{message}; failed run {attempt} of at most {limit} "
                  "retried: requeued with backoff", {"Running": False, "Admitted": False, "QuotaReserved": False})


def cancelled(message: str) -> Change:
    return Change("Failed", "Cancelled", message, {"Finished": True, "Running": False})


def suspended(message: str) -> Change:
    return Change("Suspended", "Suspended", message, {"Evicted": True, "Running": False, "Admitted": False,
                                                      "QuotaReserved": False})


def evicted(reason: str, message: str) -> Change:
    return Change("Evicted", reason, message, {"Evicted": True, "Running": False, "Admitted": False,
                                               "QuotaReserved": False})


def deleted() -> Change:
    return Change("Deleted", "Deleted", "the object was deleted; batchyard released its quota", {"Finished": True})
