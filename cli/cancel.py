"""``batchyard cancel WORKLOAD``: sign a cancel request for the user and publish WorkloadCancelRequested.

Signed exactly like ``batchyard submit`` (a fresh single-use token from the user's key: BATCHYARD_SIGNING_KEY_FILE
or BATCHYARD_SIGNING_KEY; see docs/security.md). Admission decides it (a team cancels only its own workloads) and
answers WorkloadCancelled or WorkloadCancelRefused with a reason code (docs/admission.md, "Cancelling a workload").
"""

from __future__ import annotations

from pydantic import ValidationError

from libs.events import Tenant, WorkloadCancelRequested
from libs.platform.publisher import EventPublisher
from libs.platform.settings import Settings
from cli.submit import SubmitError, kafka_client_options, problems, signer_from_env
from services.admission.signing import SigningError, TokenSigner


def signed_cancel(workload_id: str, *, org: str, team: str, signer: TokenSigner,
                  reason: str = "") -> WorkloadCancelRequested:
    """Returns the cancel request of ``workload_id`` (of ``org/team``) carrying a fresh token; raises SubmitError
    on an id, tenant or reason the contract refuses, or a key that cannot sign for the team."""
    if not workload_id.strip() or not workload_id.isprintable():
        raise SubmitError(f"not a workload id: {workload_id[:80]!r} (use the id `batchyard submit` printed)")
    try:
        request = WorkloadCancelRequested(workload_id=workload_id, tenant=Tenant(org=org, team=team), reason=reason,
                                          producer="cli")
    except ValidationError as exc:
        raise SubmitError(f"invalid cancel request: {problems(exc)}") from None
    try:
        token = signer.token(org, team, signer.key_for(org, team).queues)
    except (SigningError, ValueError) as exc:
        raise SubmitError(f"cannot sign for {org}/{team}: {exc}") from None
    return request.model_copy(update={"token": token})


async def cancel_workload(workload_id: str, *, org: str, team: str, reason: str = "", key_file: str | None = None,
                          subject: str | None = None) -> WorkloadCancelRequested:
    """Publishes the signed cancel request; returns it."""
    settings = Settings()
    event = signed_cancel(workload_id, org=org, team=team, reason=reason,
                          signer=signer_from_env(org=org, team=team, key_file=key_file, subject=subject))
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace,
                              **kafka_client_options(settings)) as publisher:
        await publisher.publish([event])
    return event
