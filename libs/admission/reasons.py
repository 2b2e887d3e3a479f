"""Reason codes and the typed "no" every admission step returns.

Every rejection carries a machine-readable `ReasonCode`, a message a user can act on,
and, for policy rejections, the id of the rule that fired plus every violation found.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ReasonCode(str, enum.Enum):
    """Why a submission was rejected; the string value is the stable wire code."""

    # The submission itself.
    SCHEMA_INVALID = "schema_invalid"
    # The caller's token (authentication).
    TOKEN_MISSING = "token_missing"
    TOKEN_UNSIGNED = "token_unsigned"
    TOKEN_MALFORMED = "token_malformed"
    TOKEN_UNSUPPORTED_ALGORITHM = "token_unsupported_algorithm"
    TOKEN_UNKNOWN_KEY = "token_unknown_key"
    TOKEN_KEY_RETIRED = "token_key_retired"
    TOKEN_KEY_REVOKED = "token_key_revoked"
    TOKEN_HMAC_NOT_ALLOWED = "token_hmac_not_allowed"
    TOKEN_BAD_SIGNATURE = "token_bad_signature"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    TOKEN_LIFETIME_TOO_LONG = "token_lifetime_too_long"
    TOKEN_KEY_SCOPE = "token_key_scope"
    TOKEN_REPLAYED = "token_replayed"
    # Authorization: the token is genuine but does not cover this submission.
    TENANT_MISMATCH = "tenant_mismatch"
    QUEUE_NOT_ALLOWED = "queue_not_allowed"
    # Policy: a declarative rule fired (see `Rejection.rule`).
    POLICY_VIOLATION = "policy_violation"


# Longest piece of caller-supplied text echoed back in a message; keeps hostile input
# from bloating audit records and log lines.
_ECHO_LIMIT = 80


def echo(value: object) -> str:
    """Returns `value` as a short, quoted, printable string safe to put in a message."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > _ECHO_LIMIT:
        text = text[: _ECHO_LIMIT - 1] + "…"
    return f"'{text}'"


@dataclass(frozen=True, slots=True)
class Violation:
    """One policy rule that fired, with where it fired."""

    rule: str  # stable rule id, e.g. "pod.privileged"
    message: str  # what is wrong and how to fix it, in user words
    pod_set: str | None = None  # the pod set concerned, None for job-wide rules


@dataclass(frozen=True, slots=True)
class Rejection:
    """A typed "no": reason code, user message and, for policy, the rule(s) that fired."""

    code: ReasonCode
    message: str
    rule: str | None = None  # the first rule that fired; None outside policy
    violations: tuple[Violation, ...] = field(default=())  # every rule that fired, in order

    @classmethod
    def of(cls, code: ReasonCode, message: str) -> Rejection:
        """Returns a non-policy rejection."""
        return cls(code=code, message=message)

    @classmethod
    def from_violations(cls, violations: tuple[Violation, ...]) -> Rejection:
        """Returns the policy rejection for a non-empty, ordered tuple of violations."""
        first = violations[0]
        more = len(violations) - 1
        suffix = f" (and {more} more violation{'s' if more > 1 else ''})" if more else ""
        return cls(
            code=ReasonCode.POLICY_VIOLATION,
            message=f"{first.message}{suffix}",
            rule=first.rule,
            violations=violations,
        )
