"""The web view's one write action: cancel a workload, for a caller holding an admin token.

An admin token is a token (``batchyard audit token``) signed by a **platform key** (admission's keyring entry with no
org), verified against admission's public keys like every token. The view then signs the cancel request itself,
for the workload's own team, with its signing key (``BATCHYARD_SIGNING_KEY_FILE``, which must hold a platform key)
and publishes the signed ``WorkloadCancelRequested`` exactly as ``batchyard cancel`` does; admission decides it and
records the admin as the canceller.
"""

from __future__ import annotations

from datetime import datetime, timezone

from cli.reads import ReadRefused, admission_keyring


class AdminRefused(Exception):
    """The action refused: HTTP ``status``, a reason code and the words."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


def verify_admin(authorization: str | None):
    """Returns the verified identity of an ``Authorization: Bearer <admin token>`` header; AdminRefused (403)
    without one, with a refused token (its own reason code), or with a token of a team or org key."""
    from libs.admission import Rejection, authenticate
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AdminRefused(403, "admin_token_required", "read-only: this action needs an admin token (a token signed "
                           "by a platform key) as 'Authorization: Bearer <token>'")
    try:
        keyring = admission_keyring()
    except ReadRefused as exc:
        raise AdminRefused(503, exc.reason, str(exc)) from None
    identity = authenticate(token.strip(), keyring, datetime.now(timezone.utc))
    if isinstance(identity, Rejection):
        raise AdminRefused(403, identity.code.value, f"admin token refused: {identity.message}")
    if keyring.keys[identity.kid].org is not None:
        raise AdminRefused(403, "not_admin", f"the token is signed by {identity.kid}, a key of a tenant, not a "
                           "platform key: tenants cancel with `batchyard cancel`")
    return identity


async def cancel_as_admin(identity, workload_id: str, reason: str, reader, key_file: str | None):
    """Publishes the signed cancel request of ``workload_id`` (as the view's scope sees it) on behalf of the
    verified admin; returns the event. AdminRefused: 404 unknown to the view, 409 already ended, 503 cannot sign."""
    from cli import reads
    from cli.cancel import signed_cancel
    from cli.submit import SubmitError, kafka_client_options, signer_from_env
    from libs.platform.publisher import EventPublisher
    from libs.platform.settings import Settings

    row, _ = await reader.run("quota", reads.workload_standing, workload_id)
    if row is None:
        raise AdminRefused(404, "unknown_workload", f"no workload {workload_id[:80]!r} in the queues this view reads")
    if row["state"] == "finished":
        raise AdminRefused(409, "workload_finished", f"workload {workload_id} has already ended")
    try:
        signer = signer_from_env(org=row["org"], team=row["team"], key_file=key_file, subject=identity.subject)
        event = signed_cancel(workload_id, org=row["org"], team=row["team"], signer=signer, reason=reason)
    except SubmitError as exc:
        raise AdminRefused(503, "cannot_sign", f"this view cannot sign the cancel: {exc}") from None
    settings = Settings()
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace,
                              **kafka_client_options(settings)) as publisher:
        await publisher.publish([event])
    return event
