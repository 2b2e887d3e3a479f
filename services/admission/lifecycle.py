"""Suspend, resume and priority requests: who may suspend, resume or reprioritise which workload, decided as
cancels are (docs/adr/0016-suspend-resume-priority-retries.md).

``decide_request`` is pure: the request (WorkloadSuspendRequested, WorkloadResumeRequested or
WorkloadPriorityChangeRequested), the keyring, the clock, what admission holds of the workload and the priority
classes its team may use in, a ``CancelDecision`` out (the same shape as a cancel's). The phases, in order (the
first "no" decides, so one input always gets one reason):

1. **authenticate** the token (any ``token_*`` code);
2. **parse**: the request names a workload and its tenant (``request_invalid``);
3. **authorise tenant**: the token's tenant is the request's and the workload's (``tenant_mismatch``);
4. **find** the workload admission admitted (``workload_unknown``);
5. **state**: not ended (``workload_finished``; cancelled counts as ended); a suspend needs a workload that is not
   suspended (``workload_already_suspended``), a resume one that is (``workload_not_suspended``);
6. **priority**: the new class is one the team may use (``priority_class_not_allowed``, the submission rule
   ``priority.allowed``) and not the one the workload has (``priority_unchanged``: a request sent twice changes
   it once). A suspended workload may change priority: it is queued with it when resumed.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from libs.admission import Keyring, Rejection, authenticate
from libs.admission.reasons import echo
from libs.events import WorkloadPriorityChangeRequested, WorkloadResumeRequested, WorkloadSuspendRequested
from services.admission.cancel import CancelDecision

LifecycleRequest = WorkloadSuspendRequested | WorkloadResumeRequested | WorkloadPriorityChangeRequested
VERBS = {WorkloadSuspendRequested: "suspend", WorkloadResumeRequested: "resume",
         WorkloadPriorityChangeRequested: "priority"}


class RequestReason(str, enum.Enum):
    """Why a suspend, resume or priority request is refused (besides the token's ``token_*`` codes); values are
    wire codes."""

    INVALID = "request_invalid"
    TENANT_MISMATCH = "tenant_mismatch"
    UNKNOWN = "workload_unknown"
    FINISHED = "workload_finished"
    ALREADY_SUSPENDED = "workload_already_suspended"
    NOT_SUSPENDED = "workload_not_suspended"
    PRIORITY_NOT_ALLOWED = "priority_class_not_allowed"
    PRIORITY_UNCHANGED = "priority_unchanged"
    TOKEN_REPLAYED = "token_replayed"


@dataclass(frozen=True, slots=True)
class HeldState:
    """What admission holds of an admitted workload, for suspend, resume and priority requests."""

    org: str | None  # its tenant; None if admitted before admission recorded tenants (migration 003)
    team: str | None
    finished_by: str | None  # the event type that ended it (WorkloadSucceeded, WorkloadFailed, WorkloadCancelled)
    suspended: bool  # suspended and not resumed since
    priority_class: str | None = None  # its priority class now (as admitted, or as last changed)


def verb_of(event: LifecycleRequest) -> str:
    """Returns ``suspend``, ``resume`` or ``priority``: the request's name in audit rows, refusals and token
    bindings."""
    return VERBS[type(event)]


def decide_request(event: LifecycleRequest, keyring: Keyring, now: datetime, held: HeldState | None,
                   allowed_classes: tuple[str, ...] = ()) -> CancelDecision:
    """Returns whether the caller of ``event`` may suspend, resume or reprioritise the workload it names, which
    admission holds as ``held`` (None: never admitted); ``allowed_classes``: the priority classes the workload's
    team may use (its policy's ``allowed_priority_classes``). Never raises on caller input."""
    verb = verb_of(event)
    identity = authenticate(event.token, keyring, now)
    if isinstance(identity, Rejection):
        return CancelDecision(None, identity.code.value, identity.message)
    wid, tenant = event.workload_id, event.tenant
    mine = f"{identity.org}/{identity.team}"

    def refused(code: RequestReason, message: str) -> CancelDecision:
        return CancelDecision(identity, code.value, message)

    if not wid or tenant is None:
        missing = "a workload id" if not wid else "the workload's tenant (org and team)"
        return refused(RequestReason.INVALID, f"a {verb} request must name {missing}")
    if (tenant.org, tenant.team) != (identity.org, identity.team):
        return refused(RequestReason.TENANT_MISMATCH, f"the token vouches for {mine}, not for {tenant}; a team may "
                       f"{verb} only its own workloads")
    if held is None:
        return refused(RequestReason.UNKNOWN, f"no workload {echo(wid)} was admitted; check the id "
                       "(batchyard queues list)")
    if (held.org, held.team) != (identity.org, identity.team):
        return refused(RequestReason.TENANT_MISMATCH, f"workload {echo(wid)} is not a workload of {mine}; a team "
                       f"may {verb} only its own workloads")
    if held.finished_by is not None:
        ended = held.finished_by.removeprefix("Workload").lower()
        return refused(RequestReason.FINISHED, f"workload {echo(wid)} already ended ({ended}); there is nothing to "
                       f"{verb}")
    if verb == "suspend" and held.suspended:
        return refused(RequestReason.ALREADY_SUSPENDED, f"workload {echo(wid)} is already suspended; "
                       "`batchyard resume` queues it again")
    if verb == "resume" and not held.suspended:
        return refused(RequestReason.NOT_SUSPENDED, f"workload {echo(wid)} is not suspended; there is nothing to "
                       "resume")
    if verb == "priority":
        wanted = event.priority_class
        if wanted not in allowed_classes:
            shown = ", ".join(allowed_classes) or "none"
            return refused(RequestReason.PRIORITY_NOT_ALLOWED, f"priority class {echo(wanted)} is not one {mine} "
                           f"may use; this team may use: {shown}")
        if wanted == held.priority_class:
            return refused(RequestReason.PRIORITY_UNCHANGED, f"workload {echo(wid)} already has priority class "
                           f"{echo(wanted)}; nothing changed")
    return CancelDecision(identity)


def replayed(decision: CancelDecision) -> CancelDecision:
    """Returns ``decision`` refused because its token id was already spent on something else."""
    return CancelDecision(decision.identity, RequestReason.TOKEN_REPLAYED.value,
                          f"token {decision.identity.jti} was already used for another request; sign a new token "
                          "per request")


def request_binding(event: LifecycleRequest) -> str:
    """Returns what a suspend, resume or priority request spends its token id on: that request about that workload, so a
    redelivery passes and the token serves nothing else."""
    return hashlib.sha256(f"{verb_of(event)}\0{event.workload_id}".encode()).hexdigest()
