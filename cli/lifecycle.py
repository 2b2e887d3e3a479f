"""``batchyard suspend WORKLOAD``, ``batchyard resume WORKLOAD``, ``batchyard priority WORKLOAD --class NAME`` (and,
through cli.cancel, ``batchyard cancel``): sign the request for the user and publish it.

Signed exactly like ``batchyard cancel`` (a fresh single-use token from the user's key). Admission decides it (a team
acts only on its own workloads) and answers WorkloadSuspended / WorkloadResumed / WorkloadPriorityChanged, or
WorkloadRequestRefused with a reason code (docs/admission.md, "Suspending and resuming a workload", "Changing a
workload's priority").
"""

from __future__ import annotations

from pydantic import ValidationError

from libs.events import (Tenant, WorkloadCancelRequested, WorkloadPriorityChangeRequested, WorkloadResumeRequested,
                         WorkloadSuspendRequested)
from libs.platform.publisher import EventPublisher
from libs.platform.settings import Settings
from cli.submit import SubmitError, kafka_client_options, problems, signer_from_env
from services.admission.signing import SigningError, TokenSigner

REQUESTS = {"suspend": WorkloadSuspendRequested, "resume": WorkloadResumeRequested,
            "cancel": WorkloadCancelRequested, "priority": WorkloadPriorityChangeRequested}
Request = WorkloadSuspendRequested | WorkloadResumeRequested | WorkloadCancelRequested | WorkloadPriorityChangeRequested


def signed_request(verb: str, workload_id: str, *, org: str, team: str, signer: TokenSigner, reason: str = "",
                   **fields: str) -> Request:
    """Returns the ``verb`` (suspend, resume, cancel or priority) request of ``workload_id`` (of ``org/team``) with a
    fresh token; ``fields``: the request's own (a priority request's ``priority_class``). Raises SubmitError on an
    id, tenant, reason or field the contract refuses, or a key that cannot sign for the team."""
    if not workload_id.strip() or not workload_id.isprintable():
        raise SubmitError(f"not a workload id: {workload_id[:80]!r} (use the id `batchyard submit` printed)")
    try:
        request = REQUESTS[verb](workload_id=workload_id, tenant=Tenant(org=org, team=team), reason=reason,
                                 producer="cli", **fields)
    except ValidationError as exc:
        raise SubmitError(f"invalid {verb} request: {problems(exc)}") from None
    try:
        token = signer.token(org, team, signer.key_for(org, team).queues)
    except (SigningError, ValueError) as exc:
        raise SubmitError(f"cannot sign for {org}/{team}: {exc}") from None
    return request.model_copy(update={"token": token})


async def request_workload(verb: str, workload_id: str, *, org: str, team: str, reason: str = "",
                           key_file: str | None = None, subject: str | None = None, **fields: str):
    """Publishes the signed ``verb`` request; returns it."""
    settings = Settings()
    event = signed_request(verb, workload_id, org=org, team=team, reason=reason,
                           signer=signer_from_env(org=org, team=team, key_file=key_file, subject=subject), **fields)
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace,
                              **kafka_client_options(settings)) as publisher:
        await publisher.publish([event])
    return event
