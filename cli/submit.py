"""``batchyard submit``: read a workload YAML, sign it for the user, publish WorkloadSubmitted.

The identity token is minted here, fresh per submission (single-use ``jti``, 10-minute lifetime), with
a key the user holds: ``BATCHYARD_SIGNING_KEY_FILE`` (a keyring-format YAML file with the user's or
team's key(s)) or ``BATCHYARD_SIGNING_KEY`` (``kid:base64url-secret``). The caller is
``BATCHYARD_SUBJECT`` (default ``$USER@host``). See docs/security.md.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from pathlib import Path

from pydantic import ValidationError

from libs.admission import SigningKey
from libs.events import Tenant, WorkloadSpec, WorkloadSubmitted
from libs.events.validation import read_yaml
from libs.platform.publisher import EventPublisher
from libs.platform.settings import Settings
from services.admission.keyring import KeyEntry, KeyringError, decode_secret
from services.admission.signing import SigningError, TokenSigner, signer_from_file


class SubmitError(ValueError):
    """The workload file is unreadable or invalid, or no key can sign it; nothing was published."""


def load_spec(path: Path) -> WorkloadSpec:
    """Returns the workload in ``path``, validated strictly: a field the contract does not know (``gpus: 4``) is
    refused with its path, though the event contract ignores unknown fields for readers of newer writers."""
    data = read_yaml(path, "workload YAML", SubmitError)
    try:
        return WorkloadSpec.model_validate(data, extra="forbid")
    except ValidationError as exc:
        raise SubmitError(f"{path}: invalid workload: {problems(exc)}") from None


def problems(exc: ValidationError, limit: int = 5) -> str:
    """Returns the validation errors as ``field.path: message``, leaving out an error on a container that only
    follows from an error inside it (one pod set with a bad field also makes ``pod_sets`` "too short")."""
    errors = exc.errors()
    own = [e for e in errors if not any(len(o["loc"]) > len(e["loc"]) and o["loc"][:len(e["loc"])] == e["loc"]
                                        for o in errors)]
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<file>'}: "
                     f"{'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}" for e in own[:limit])


def default_subject() -> str:
    return os.environ.get("BATCHYARD_SUBJECT") or f"{getpass.getuser()}@{socket.gethostname()}"


def signer_from_env(*, org: str, team: str, key_file: str | None = None, subject: str | None = None,
                    env: dict[str, str] | None = None) -> TokenSigner:
    """Returns a signer over the user's key: ``key_file``, else $BATCHYARD_SIGNING_KEY_FILE, else
    $BATCHYARD_SIGNING_KEY (``kid:secret``, scoped to ``org/team`` on the client side)."""
    env = os.environ if env is None else env
    subject = subject or default_subject()
    key_file = key_file or env.get("BATCHYARD_SIGNING_KEY_FILE")
    try:
        if key_file:
            return signer_from_file(key_file, subject=subject)
        inline = env.get("BATCHYARD_SIGNING_KEY", "")
        kid, sep, secret = inline.partition(":")
        if not sep:
            raise SubmitError("no signing key: set BATCHYARD_SIGNING_KEY_FILE (a keyring YAML file) or "
                              "BATCHYARD_SIGNING_KEY=kid:ed25519:base64url-private-key")
        if secret.startswith("ed25519:"):
            key = SigningKey.ed25519(kid, decode_secret(secret.removeprefix("ed25519:"), kid), org=org, team=team)
        else:  # kid:base64url-secret, an HMAC key (deprecated)
            key = SigningKey(kid=kid, secret=decode_secret(secret, kid), org=org, team=team)
        return TokenSigner([KeyEntry(key=key, queues=("default",))], subject=subject)
    except (KeyringError, ValueError) as exc:
        raise SubmitError(str(exc)) from None


def signed_submission(spec: WorkloadSpec, *, org: str, team: str, signer: TokenSigner,
                      workload_id: str | None = None) -> WorkloadSubmitted:
    """Returns the submission of ``spec`` for ``org/team`` carrying a fresh token (its queue included)."""
    workload_id = workload_id or f"{spec.name}-{uuid.uuid4().hex[:8]}"
    try:
        queues = sorted({*signer.key_for(org, team).queues, *([spec.queue] if spec.queue else [])})
        token = signer.token(org, team, queues)
    except (SigningError, ValueError) as exc:
        raise SubmitError(f"cannot sign for {org}/{team}: {exc}") from None
    return WorkloadSubmitted(workload_id=workload_id, tenant=Tenant(org=org, team=team), spec=spec, producer="cli",
                             token=token)


async def submit_file(path: Path, *, org: str, team: str, key_file: str | None = None,
                      subject: str | None = None) -> str:
    """Publishes the workload in ``path``, signed for ``org/team``; returns its workload id."""
    spec = load_spec(path)
    settings = Settings()
    event = signed_submission(spec, org=org, team=team,
                              signer=signer_from_env(org=org, team=team, key_file=key_file, subject=subject))
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace,
                              **kafka_client_options(settings)) as publisher:
        await publisher.publish([event])
    return event.workload_id


def kafka_client_options(settings: Settings) -> dict:
    """Returns aiokafka options for the configured transport security (SASL/SCRAM, TLS); {} for PLAINTEXT."""
    sec = settings.kafka_security
    if sec.security_protocol == "PLAINTEXT":
        return {}
    options: dict = {"security_protocol": sec.security_protocol}
    if sec.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = sec.ssl_context()
    if sec.security_protocol.startswith("SASL"):
        options.update(sasl_mechanism=sec.sasl_mechanism or "SCRAM-SHA-512", sasl_plain_username=sec.sasl_username,
                       sasl_plain_password=sec.sasl_password.get_secret_value() if sec.sasl_password else None)
    return options
