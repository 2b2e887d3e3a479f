"""The keyring file: the keys admission trusts (or a signer signs with), by key id, reloaded when it changes.

Format (YAML; see deploy/admission/keyring.yaml)::

    leeway_s: 30                  # clock skew tolerated on exp / nbf
    max_lifetime_s: 86400         # longest token lifetime accepted
    hmac_tenants: [acme/vision]   # HS256 (deprecated) tokens are accepted only for these orgs or org/teams
    keys:
      - kid: acme-vision-2027     # Ed25519 (EdDSA): admission holds the public key only
        public_key: <base64url>   # 32 bytes; a signer's file has private_key (or _env, _file) instead
        org: acme                 # omit for a platform key; add team: for a team key
        team: vision
        queues: [default, gpu]    # what signers put in tokens minted with this key (client side)
        retired_at: 2026-06-01T00:00:00Z   # optional; tokens under the key are refused from then on
        revoked: true             # optional; compromised: every token under it is refused
      - kid: acme-vision-2026     # HS256 (deprecated): whoever holds the secret can mint for its scope
        secret: <base64url>       # or secret_env: NAME, or secret_file: /path

Admission loads its keyring with ``public_only=True``: a private key or an HMAC secret for a tenant not in
``hmac_tenants`` is refused there, so its keyring can verify but never mint.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import yaml

from libs.admission import Keyring, SigningKey
from libs.admission.token import EDDSA, HS256

log = logging.getLogger("batchyard.admission.keyring")

class KeyringError(ValueError):
    """The keyring document is unreadable or invalid; the message names the key and field."""


@dataclass(frozen=True)
class KeyEntry:
    """One key of the keyring file: the signing key and the queues its tokens list."""

    key: SigningKey  # kid, secret and the tenants it may vouch for
    queues: tuple[str, ...]  # local queues a signer puts in tokens minted with this key


@dataclass(frozen=True)
class KeyringFile:
    """A parsed keyring document: what admission verifies with and what signers sign with."""

    keyring: Keyring  # every key, for verification
    entries: tuple[KeyEntry, ...]  # the same keys with their queues, in file order

    @property
    def deprecated(self) -> tuple[str, ...]:
        """Returns the ids of the HS256 (deprecated) keys."""
        return tuple(e.key.kid for e in self.entries if e.key.algorithm == HS256)


def load_keyring(path: str | Path, env: Mapping[str, str] | None = None, *, public_only: bool = False) -> KeyringFile:
    """Returns the keyring in the YAML file at ``path``; raises KeyringError saying what is wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyringError(f"cannot read keyring {path}: {exc}") from None
    return parse_keyring(text, base=path.parent, env=env, public_only=public_only)


def load_verifier_keyring(path: str | Path) -> KeyringFile:
    """Returns admission's keyring (public keys, and HMAC keys only for ``hmac_tenants``), logging each HS256 key
    as deprecated."""
    loaded = load_keyring(path, public_only=True)
    for kid in loaded.deprecated:
        log.warning("keyring %s: key %s is HS256 (deprecated): whoever reads this keyring can mint tokens for its "
                    "tenants; give them an Ed25519 key (batchyard audit keygen) and remove it", path, kid)
    return loaded


def parse_keyring(text: str, *, base: Path = Path("."), env: Mapping[str, str] | None = None,
                  public_only: bool = False) -> KeyringFile:
    """Returns the keyring in YAML ``text``; ``secret_file`` paths are relative to ``base``.

    ``public_only``: the verifier's (admission's) keyring, which must hold no private key, and HMAC keys only
    when ``hmac_tenants`` lists which tenants may still use them."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise KeyringError(f"keyring is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list) or not raw["keys"]:
        raise KeyringError("keyring needs a non-empty 'keys' list")
    unknown = set(raw) - {"leeway_s", "max_lifetime_s", "keys", "hmac_tenants"}
    if unknown:
        raise KeyringError(f"keyring has unknown fields: {sorted(unknown)}")
    entries = tuple(_entry(item, i, base, os.environ if env is None else env) for i, item in enumerate(raw["keys"]))
    options: dict = {k: _int(raw[k], k) for k in ("leeway_s", "max_lifetime_s") if k in raw}
    if "hmac_tenants" in raw or public_only:
        options["hmac_tenants"] = _tenants(raw.get("hmac_tenants") or [])
    if public_only:
        _check_public_only(entries, options["hmac_tenants"])
    try:
        keyring = Keyring.of(*(e.key for e in entries), **options)
    except ValueError as exc:
        raise KeyringError(str(exc)) from None
    return KeyringFile(keyring=keyring, entries=entries)


_HMAC_SOURCES = ("secret", "secret_env", "secret_file")
_PRIVATE_SOURCES = ("private_key", "private_key_env", "private_key_file")
_KEY_FIELDS = {"kid", *_HMAC_SOURCES, *_PRIVATE_SOURCES, "public_key", "org", "team", "queues", "retired_at",
               "revoked"}


def _tenants(value: object) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < t.count("/") + 1 <= 2 for t in value):
        raise KeyringError("keyring hmac_tenants must be a list of 'org' or 'org/team'")
    return frozenset(value)


def _check_public_only(entries: tuple[KeyEntry, ...], hmac_tenants: frozenset[str]) -> None:
    for e in entries:
        k = e.key
        if k.algorithm == EDDSA and k.can_sign:
            raise KeyringError(f"key {k.kid!r}: admission's keyring holds public keys only; replace private_key "
                               "with public_key (batchyard audit keygen prints both)")
        scope = k.org if k.team is None else f"{k.org}/{k.team}"
        if k.algorithm == HS256 and k.org is not None and not ({k.org, scope} & hmac_tenants):
            raise KeyringError(f"key {k.kid!r} is HS256 but {scope} is not in hmac_tenants; HMAC is accepted only "
                               "for the tenants listed there (deprecated)")


def _entry(item: object, index: int, base: Path, env: Mapping[str, str]) -> KeyEntry:
    if not isinstance(item, dict) or not isinstance(item.get("kid"), str):
        raise KeyringError(f"keys[{index}] needs a string 'kid'")
    kid = item["kid"]
    unknown = set(item) - _KEY_FIELDS
    if unknown:
        raise KeyringError(f"key {kid!r} has unknown fields: {sorted(unknown)}")
    queues = item.get("queues", ["default"])
    if not isinstance(queues, list) or not queues or not all(isinstance(q, str) for q in queues):
        raise KeyringError(f"key {kid!r}: 'queues' must be a non-empty list of names")
    revoked = item.get("revoked", False)
    if not isinstance(revoked, bool):
        raise KeyringError(f"key {kid!r}: revoked must be true or false")
    scope = {"org": item.get("org"), "team": item.get("team"), "retired_at": _epoch(item.get("retired_at"), kid),
             "revoked": revoked}
    try:
        if any(s in item for s in _HMAC_SOURCES):
            if "public_key" in item or any(s in item for s in _PRIVATE_SOURCES):
                raise KeyringError(f"key {kid!r}: an HMAC secret and an Ed25519 key cannot share one entry")
            key = SigningKey(kid=kid, secret=_secret(item, kid, base, env, _HMAC_SOURCES), **scope)
        else:
            private = _secret(item, kid, base, env, _PRIVATE_SOURCES) if any(s in item for s in _PRIVATE_SOURCES) \
                else b""
            public = decode_secret(str(item["public_key"]), kid) if "public_key" in item else b""
            if not (private or public):
                raise KeyringError(f"key {kid!r}: give public_key (admission), private_key (signers) or a "
                                   "deprecated HMAC secret")
            key = SigningKey.ed25519(kid, private, public, **scope)
    except ValueError as exc:
        raise KeyringError(str(exc)) from None
    return KeyEntry(key=key, queues=tuple(queues))


def _secret(item: dict, kid: str, base: Path, env: Mapping[str, str], sources: tuple[str, str, str]) -> bytes:
    inline, from_env, from_file = sources
    given = [s for s in sources if s in item]
    if len(given) != 1:
        raise KeyringError(f"key {kid!r}: give exactly one of {', '.join(sources)}")
    if from_env in item:
        if item[from_env] not in env:
            raise KeyringError(f"key {kid!r}: environment variable {item[from_env]} is not set")
        encoded = env[item[from_env]]
    elif from_file in item:
        try:
            encoded = (base / str(item[from_file])).read_text().strip()
        except OSError as exc:
            raise KeyringError(f"key {kid!r}: cannot read {from_file}: {exc}") from None
    else:
        encoded = str(item[inline])
    return decode_secret(encoded, kid)


def decode_secret(encoded: str, kid: str = "?") -> bytes:
    """Returns the bytes of a base64url (padding optional) secret; raises KeyringError."""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise KeyringError(f"key {kid!r}: the secret is not base64url") from None


def _epoch(value: object, kid: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise KeyringError(f"key {kid!r}: retired_at must be a time")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise KeyringError(f"key {kid!r}: retired_at {value!r} is not an ISO time") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())
    raise KeyringError(f"key {kid!r}: retired_at must be a time")


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise KeyringError(f"keyring {name} must be a non-negative integer")
    return value
