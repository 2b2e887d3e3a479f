"""``batchyard cancel WORKLOAD``: sign a cancel request for the user and publish WorkloadCancelRequested.

Signed exactly like ``batchyard submit`` (a fresh single-use token from the user's key: BATCHYARD_SIGNING_KEY_FILE
or BATCHYARD_SIGNING_KEY; see docs/security.md). Admission decides it (a team cancels only its own workloads) and
answers WorkloadCancelled or WorkloadCancelRefused with a reason code (docs/admission.md, "Cancelling a workload").
"""

from __future__ import annotations

from libs.events import WorkloadCancelRequested
from cli.lifecycle import request_workload, signed_request
from services.admission.signing import TokenSigner


def signed_cancel(workload_id: str, *, org: str, team: str, signer: TokenSigner,
                  reason: str = "") -> WorkloadCancelRequested:
    """Returns the cancel request of ``workload_id`` (of ``org/team``) carrying a fresh token; raises SubmitError
    on an id, tenant or reason the contract refuses, or a key that cannot sign for the team."""
    return signed_request("cancel", workload_id, org=org, team=team, signer=signer, reason=reason)


async def cancel_workload(workload_id: str, *, org: str, team: str, reason: str = "", key_file: str | None = None,
                          subject: str | None = None) -> WorkloadCancelRequested:
    """Publishes the signed cancel request; returns it."""
    return await request_workload("cancel", workload_id, org=org, team=team, reason=reason, key_file=key_file,
                                  subject=subject)
