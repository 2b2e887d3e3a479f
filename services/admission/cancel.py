"""Cancel requests: who may cancel which workload, decided as submissions are (docs/adr/0014-workload-cancel.md).

``decide_cancel`` is pure: the token (the same signed tokens as submissions, ``libs.admission.authenticate``), the
request's envelope and what admission holds of the workload in, a ``CancelDecision`` out. The handler
(``AdmissionHandlers.handle_workload_cancel_requested``) reads the workload's row, spends the token id, ends the
workload's team usage and emits WorkloadCancelled, or WorkloadCancelRefused with the reason code.

The phases, in order (the first "no" decides, so one input always gets one reason):

1. **authenticate** the token (any ``token_*`` code; an unauthenticated caller learns nothing about the workload);
2. **parse**: the request names a workload and its tenant (``cancel_invalid``);
3. **authorise tenant**: the token's tenant is the request's (``tenant_mismatch``);
4. **find** the workload admission admitted (``workload_unknown``), of that tenant (``tenant_mismatch``);
5. **still live**: not cancelled already (``workload_already_cancelled``: a second cancel changes nothing) and not
   ended (``workload_finished``).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from libs.admission import Keyring, Rejection, authenticate
from libs.admission.reasons import echo
from libs.admission.token import Identity
from libs.events import WorkloadCancelRequested

CANCELLED_BY = "WorkloadCancelled"  # admitted_workloads.finished_by of a cancelled workload


class CancelReason(str, enum.Enum):
    """Why a cancel request is refused (besides the token's own ``token_*`` codes); values are wire codes."""

    INVALID = "cancel_invalid"
    TENANT_MISMATCH = "tenant_mismatch"
    UNKNOWN = "workload_unknown"
    ALREADY_CANCELLED = "workload_already_cancelled"
    FINISHED = "workload_finished"
    TOKEN_REPLAYED = "token_replayed"


@dataclass(frozen=True, slots=True)
class Held:
    """What admission holds of an admitted workload."""

    org: str | None  # its tenant; None if admitted before admission recorded tenants (migration 003)
    team: str | None
    finished_by: str | None  # the event type that ended it (WorkloadSucceeded, WorkloadFailed, WorkloadCancelled)


@dataclass(frozen=True, slots=True)
class CancelDecision:
    """A cancel request judged: ``identity`` when the token is genuine; ``code`` and ``message`` when refused."""

    identity: Identity | None
    code: str | None = None  # None: the workload is to be cancelled
    message: str = ""

    @property
    def cancelled(self) -> bool:
        return self.code is None


def decide_cancel(event: WorkloadCancelRequested, keyring: Keyring, now: datetime, held: Held | None) -> CancelDecision:
    """Returns whether the caller of ``event`` may cancel the workload it names, which admission holds as ``held``
    (None: never admitted). Never raises on caller input."""
    identity = authenticate(event.token, keyring, now)
    if isinstance(identity, Rejection):
        return CancelDecision(None, identity.code.value, identity.message)
    wid, tenant = event.workload_id, event.tenant
    if not wid or tenant is None:
        missing = "a workload id" if not wid else "the workload's tenant (org and team)"
        return _refused(identity, CancelReason.INVALID, f"a cancel request must name {missing}")
    if (tenant.org, tenant.team) != (identity.org, identity.team):
        return _refused(identity, CancelReason.TENANT_MISMATCH, f"the token vouches for {identity.org}/"
                        f"{identity.team}, not for {tenant}; a team may cancel only its own workloads")
    if held is None:
        return _refused(identity, CancelReason.UNKNOWN, f"no workload {echo(wid)} was admitted; check the id "
                        "(batchyard queues list)")
    if (held.org, held.team) != (identity.org, identity.team):
        return _refused(identity, CancelReason.TENANT_MISMATCH, f"workload {echo(wid)} is not a workload of "
                        f"{identity.org}/{identity.team}; a team may cancel only its own workloads")
    if held.finished_by == CANCELLED_BY:
        return _refused(identity, CancelReason.ALREADY_CANCELLED, f"workload {echo(wid)} was already cancelled")
    if held.finished_by is not None:
        ended = held.finished_by.removeprefix("Workload").lower()
        return _refused(identity, CancelReason.FINISHED, f"workload {echo(wid)} already finished ({ended}); "
                        "there is nothing to cancel")
    return CancelDecision(identity)


def _refused(identity: Identity, code: CancelReason, message: str) -> CancelDecision:
    return CancelDecision(identity, code.value, message)


def replayed(decision: CancelDecision) -> CancelDecision:
    """Returns ``decision`` refused because its token id was already spent on something else."""
    return CancelDecision(decision.identity, CancelReason.TOKEN_REPLAYED.value,
                          f"token {decision.identity.jti} was already used for another request; sign a new token "
                          "per request")


def cancel_binding(workload_id: str) -> str:
    """Returns what a cancel request spends its token id on: the same token may cancel one workload, redelivered
    or sent again, and nothing else (no submission either: a submission binds to its own digest)."""
    return hashlib.sha256(f"cancel\0{workload_id}".encode()).hexdigest()
