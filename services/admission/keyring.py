"""The keyring file: the HMAC keys admission trusts, by key id, reloaded when the file changes.

Format (YAML; see deploy/admission/keyring.yaml)::

    leeway_s: 30                  # clock skew tolerated on exp / nbf
    max_lifetime_s: 86400         # longest token lifetime accepted
    keys:
      - kid: acme-vision-2026
        secret: <base64url>       # or secret_env: NAME, or secret_file: /path (preferred in production)
        org: acme                 # omit for a platform key; add team: for a team key
        team: vision
        queues: [default, gpu]    # what signers put in tokens minted with this key (client side)
        retired_at: 2026-06-01T00:00:00Z   # optional; tokens under the key are refused from then on
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import yaml

from libs.admission import Keyring, SigningKey


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


def load_keyring(path: str | Path, env: Mapping[str, str] | None = None) -> KeyringFile:
    """Returns the keyring in the YAML file at ``path``; raises KeyringError saying what is wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyringError(f"cannot read keyring {path}: {exc}") from None
    return parse_keyring(text, base=path.parent, env=env)


def parse_keyring(text: str, *, base: Path = Path("."), env: Mapping[str, str] | None = None) -> KeyringFile:
    """Returns the keyring in YAML ``text``; ``secret_file`` paths are relative to ``base``."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise KeyringError(f"keyring is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list) or not raw["keys"]:
        raise KeyringError("keyring needs a non-empty 'keys' list")
    unknown = set(raw) - {"leeway_s", "max_lifetime_s", "keys"}
    if unknown:
        raise KeyringError(f"keyring has unknown fields: {sorted(unknown)}")
    entries = tuple(_entry(item, i, base, os.environ if env is None else env) for i, item in enumerate(raw["keys"]))
    options = {k: _int(raw[k], k) for k in ("leeway_s", "max_lifetime_s") if k in raw}
    try:
        keyring = Keyring.of(*(e.key for e in entries), **options)
    except ValueError as exc:
        raise KeyringError(str(exc)) from None
    return KeyringFile(keyring=keyring, entries=entries)


_KEY_FIELDS = {"kid", "secret", "secret_env", "secret_file", "org", "team", "queues", "retired_at"}


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
    try:
        key = SigningKey(kid=kid, secret=_secret(item, kid, base, env), org=item.get("org"), team=item.get("team"),
                         retired_at=_epoch(item.get("retired_at"), kid))
    except ValueError as exc:
        raise KeyringError(str(exc)) from None
    return KeyEntry(key=key, queues=tuple(queues))


def _secret(item: dict, kid: str, base: Path, env: Mapping[str, str]) -> bytes:
    sources = [s for s in ("secret", "secret_env", "secret_file") if s in item]
    if len(sources) != 1:
        raise KeyringError(f"key {kid!r}: give exactly one of secret, secret_env, secret_file")
    if "secret_env" in item:
        if item["secret_env"] not in env:
            raise KeyringError(f"key {kid!r}: environment variable {item['secret_env']} is not set")
        encoded = env[item["secret_env"]]
    elif "secret_file" in item:
        try:
            encoded = (base / str(item["secret_file"])).read_text().strip()
        except OSError as exc:
            raise KeyringError(f"key {kid!r}: cannot read secret_file: {exc}") from None
    else:
        encoded = str(item["secret"])
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
