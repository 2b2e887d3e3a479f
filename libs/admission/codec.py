"""Strict encoding helpers for tokens: canonical JSON and canonical unpadded base64url."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Returns `obj` as compact, key-sorted, ASCII JSON."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def b64encode(data: bytes) -> str:
    """Returns unpadded base64url of `data`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(part: str) -> bytes | None:
    """Returns the bytes of canonical unpadded base64url `part`, or None."""
    if not _B64URL.fullmatch(part):
        return None
    try:
        data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the canonical encoding: otherwise spare low bits give one token many spellings.
    return data if b64encode(data) == part else None


def json_object(part: str) -> dict[str, Any] | None:
    """Returns the JSON object encoded in base64url `part`, or None if it is anything else."""
    data = b64decode(part)
    if data is None:
        return None
    try:  # UTF-8 only: json.loads(bytes) would also sniff UTF-16/32
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return obj if isinstance(obj, dict) else None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate keys are read differently by different parsers; refuse the ambiguity.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj
