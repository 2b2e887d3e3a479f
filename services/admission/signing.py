"""Client-side signing: a fresh single-use token per submission, from a key of a keyring file.

Used by ``batchyard submit``, the demo, tests and benchmarks. A signer holds only the keys it is given;
for a tenant it picks the most specific current key that may vouch for it (team key, then org key,
then platform key; the last one listed wins within a scope, so a newly added key takes over at once).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from libs.admission import Claims, sign
from libs.admission.token import epoch_seconds
from libs.events import WorkloadSubmitted
from services.admission.keyring import KeyEntry, load_keyring

REPO = Path(__file__).resolve().parents[2]
DEMO_KEYRING = REPO / "deploy" / "admission" / "keyring.yaml"  # what admission trusts (public keys)
DEMO_SIGNING_KEYS = REPO / "deploy" / "admission" / "demo-signing-keys.yaml"  # their private halves
DEFAULT_TTL_S = 600  # short-lived: a token is a bearer credential until spent


class SigningError(ValueError):
    """No usable key for the tenant, or the key file is unusable."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class TokenSigner:
    """Mints tokens for submissions; callable on a WorkloadSubmitted to return it signed."""

    def __init__(self, entries: Sequence[KeyEntry], *, subject: str, ttl_s: int = DEFAULT_TTL_S,
                 clock: Callable[[], datetime] = _utc_now,
                 new_jti: Callable[[], str] = lambda: secrets.token_urlsafe(18)) -> None:
        self.entries = tuple(entries)  # the keys this signer may use
        self.subject = subject  # the caller named in every token (sub)
        self.ttl_s = ttl_s  # token lifetime
        self.clock = clock  # timezone-aware now
        self.new_jti = new_jti  # unique token ids

    def key_for(self, org: str, team: str) -> KeyEntry:
        """Returns the most specific current key that may vouch for ``org/team``."""
        now = epoch_seconds(self.clock())
        usable = [e for e in self.entries if e.key.covers(org, team) and e.key.can_sign and not e.key.revoked
                  and (e.key.retired_at is None or now < e.key.retired_at)]
        if not usable:
            raise SigningError(f"no current key may sign for {org}/{team}")
        return max(reversed(usable), key=lambda e: (e.key.org is not None) + (e.key.team is not None))

    def token(self, org: str, team: str, queues: Sequence[str] | None = None, **overrides) -> str:
        """Returns a fresh token for ``org/team``; ``overrides`` replace claims (tests forge with it)."""
        entry, now = self.key_for(org, team), epoch_seconds(self.clock())
        claims = {"sub": self.subject, "org": org, "team": team, "queues": tuple(queues or entry.queues),
                  "iat": now, "exp": now + self.ttl_s, "jti": self.new_jti(), **overrides}
        return sign(Claims(**claims), entry.key)

    def __call__(self, event: WorkloadSubmitted) -> WorkloadSubmitted:
        """Returns ``event`` carrying a fresh token for its tenant."""
        if event.tenant is None:
            raise SigningError("the submission names no tenant to sign for")
        return event.model_copy(update={"token": self.token(event.tenant.org, event.tenant.team)})


def signer_from_file(path: str | Path, *, subject: str, ttl_s: int = DEFAULT_TTL_S) -> TokenSigner:
    """Returns a signer over the keys of a keyring file (one key or many, same format as admission's)."""
    return TokenSigner(load_keyring(path).entries, subject=subject, ttl_s=ttl_s)


def demo_signer(subject: str = "demo@batchyard") -> TokenSigner:
    """Returns a signer over the demo's private keys (deploy/admission/demo-signing-keys.yaml): demo and tests
    only."""
    return signer_from_file(DEMO_SIGNING_KEYS, subject=subject)
