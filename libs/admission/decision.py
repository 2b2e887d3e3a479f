"""The admission decision: one pure function from (submission, token, policy, clock) to data.

`decide` runs the phases below in this order; the first phase that says no ends the
decision, so the reason reported for a given input is always the same:

1. authenticate: the token is well formed, signed by a known, current key, in its validity
   window and vouched for by a key scoped to the claimed tenant;
2. parse: the submission matches the schema;
3. authorize tenant: the token's tenant is the submission's tenant;
4. default: fill queue, priority class, requests and runtime from the tenant's policy;
5. authorize queue: the (defaulted) queue is one the token allows;
6. policy: every rule runs; all violations are reported, the first is *the* rule;
7. claim: the token id is claimed for this submission's digest (replay protection), last,
   so a token admits at most one submission while a rejected one can be fixed and resent.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .defaults import apply_defaults
from .policy import Policy
from .reasons import ReasonCode, Rejection, echo
from .replay import ReplayCache
from .rules import TeamUsage, evaluate
from .spec import JobSpec
from .token import Identity, Keyring, authenticate, claim_token


# Far above any real job (16 pod sets of bounded fields); refuses oversized payloads before parsing.
MAX_SUBMISSION_CHARS = 256 * 1024


class Outcome(str, enum.Enum):
    """What admission decided."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who asked for what, and what admission answered and why; plain data for the audit log."""

    decided_at: datetime  # the clock passed to decide
    outcome: Outcome  # accepted or rejected
    workload_id: str | None  # as submitted (unverified if the token was refused); None if unparsed
    tenant: str | None  # "org/team" the submission claims; None if it did not parse
    subject: str | None  # verified caller (token sub); None if the token was refused
    caller_tenant: str | None  # "org/team" the token vouches for
    key_id: str | None  # key that vouched for the token
    token_id: str | None  # the token's jti
    queue: str | None  # queue after defaults
    priority_class: str | None  # priority class after defaults
    reason: ReasonCode | None  # why rejected; None when accepted
    rule: str | None  # the policy rule that fired first
    message: str  # the user-facing message
    violations: tuple[str, ...] = ()  # every policy rule that fired, in order
    defaulted: tuple[str, ...] = ()  # fields filled from policy defaults
    submission_digest: str | None = None  # sha256 of the submission as sent

    def to_dict(self) -> dict[str, Any]:
        """Returns the record as JSON-ready primitives."""
        return {
            "decided_at": self.decided_at.isoformat(), "outcome": self.outcome.value,
            "workload_id": self.workload_id, "tenant": self.tenant, "subject": self.subject,
            "caller_tenant": self.caller_tenant, "key_id": self.key_id, "token_id": self.token_id,
            "queue": self.queue, "priority_class": self.priority_class,
            "reason": self.reason.value if self.reason else None, "rule": self.rule, "message": self.message,
            "violations": list(self.violations), "defaulted": list(self.defaulted),
            "submission_digest": self.submission_digest,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of `decide`: the defaulted spec if accepted, the rejection if not, and the audit."""

    outcome: Outcome
    audit: AuditRecord
    spec: JobSpec | None = None  # the submission with defaults applied (None if it did not parse)
    rejection: Rejection | None = None  # why, when rejected
    identity: Identity | None = None  # the verified caller, when the token was accepted
    defaulted: tuple[str, ...] = field(default=())  # fields filled from policy

    @property
    def accepted(self) -> bool:
        """Returns whether the submission was admitted."""
        return self.outcome is Outcome.ACCEPTED


def parse_submission(raw: object) -> JobSpec | Rejection:
    """Returns the JobSpec in `raw` (a JobSpec, a mapping, or JSON text/bytes), or SCHEMA_INVALID."""
    if isinstance(raw, JobSpec):
        return raw
    try:
        if isinstance(raw, (str, bytes, bytearray)):
            if len(raw) > MAX_SUBMISSION_CHARS:
                return Rejection.of(
                    ReasonCode.SCHEMA_INVALID, f"submission is larger than {MAX_SUBMISSION_CHARS} bytes"
                )
            return JobSpec.model_validate_json(raw)
        return JobSpec.model_validate(raw)
    except ValidationError as exc:
        return Rejection.of(ReasonCode.SCHEMA_INVALID, _schema_message(exc))
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:  # defence in depth
        return Rejection.of(ReasonCode.SCHEMA_INVALID, f"submission could not be read: {type(exc).__name__}")


def submission_digest(spec: JobSpec) -> str:
    """Returns the sha256 hex digest of the canonical JSON of `spec`.

    Canonical because fields dump in declaration order and mappings are key-sorted at parse time.
    """
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def decide(
    submission: object,
    token: object,
    keyring: Keyring,
    policy: Policy,
    now: datetime,
    replay_cache: ReplayCache,
    *,
    usage: TeamUsage | None = None,
) -> Decision:
    """Returns whether `submission`, sent with `token`, is admitted at `now`; see the module doc for phases.

    `usage` is what the submitting team already has admitted (for the per-team maxima); None
    checks this job alone against them. Errors raised by the replay cache adapter propagate.
    """
    # 1. authenticate
    identity = authenticate(token, keyring, now)
    # 2. parse
    parsed = parse_submission(submission)
    spec = parsed if isinstance(parsed, JobSpec) else None
    seen = _Seen(now, identity if isinstance(identity, Identity) else None, spec)
    if isinstance(identity, Rejection):
        return seen.rejected(identity)
    if isinstance(parsed, Rejection):
        return seen.rejected(parsed)
    # 3. authorize tenant
    if (identity.org, identity.team) != (parsed.tenant.org, parsed.tenant.team):
        return seen.rejected(_tenant_mismatch(identity, parsed))
    # 4. default
    tenant_policy = policy.for_tenant(parsed.tenant.org, parsed.tenant.team)
    seen.defaulted_spec, seen.defaulted = apply_defaults(parsed, tenant_policy)
    # 5. authorize queue
    if seen.defaulted_spec.queue not in identity.queues:
        return seen.rejected(_queue_refused(identity, seen.defaulted_spec))
    # 6. policy
    violations = evaluate(seen.defaulted_spec, tenant_policy, usage or TeamUsage())
    if violations:
        return seen.rejected(Rejection.from_violations(violations))
    # 7. claim the token id for exactly this submission
    replayed = claim_token(identity, keyring, now, replay_cache, binding=seen.digest)
    return seen.rejected(replayed) if replayed else seen.accepted()


@dataclass(slots=True)
class _Seen:
    """What decide has established so far; turns it into a Decision with its audit record."""

    now: datetime
    identity: Identity | None
    spec: JobSpec | None  # as submitted
    defaulted_spec: JobSpec | None = None  # after defaults
    defaulted: tuple[str, ...] = ()  # fields filled by defaults
    digest: str | None = None  # submission digest, computed once

    def __post_init__(self) -> None:
        self.digest = submission_digest(self.spec) if self.spec else None

    def accepted(self) -> Decision:
        return Decision(
            Outcome.ACCEPTED, self._audit(None), spec=self.defaulted_spec,
            identity=self.identity, defaulted=self.defaulted,
        )

    def rejected(self, rejection: Rejection) -> Decision:
        shown = self.defaulted_spec or self.spec
        return Decision(
            Outcome.REJECTED, self._audit(rejection), spec=shown, rejection=rejection,
            identity=self.identity, defaulted=self.defaulted,
        )

    def _audit(self, rejection: Rejection | None) -> AuditRecord:
        spec, identity, shown = self.spec, self.identity, self.defaulted_spec or self.spec
        return AuditRecord(
            decided_at=self.now,
            outcome=Outcome.REJECTED if rejection else Outcome.ACCEPTED,
            workload_id=spec.workload_id if spec else None,
            tenant=str(spec.tenant) if spec else None,
            subject=identity.subject if identity else None,
            caller_tenant=f"{identity.org}/{identity.team}" if identity else None,
            key_id=identity.kid if identity else None,
            token_id=identity.jti if identity else None,
            queue=shown.queue if shown else None,
            priority_class=shown.priority_class if shown else None,
            reason=rejection.code if rejection else None,
            rule=rejection.rule if rejection else None,
            message=rejection.message if rejection else "admitted",
            violations=tuple(v.rule for v in rejection.violations) if rejection else (),
            defaulted=self.defaulted,
            submission_digest=self.digest,
        )


def _tenant_mismatch(identity: Identity, spec: JobSpec) -> Rejection:
    return Rejection.of(
        ReasonCode.TENANT_MISMATCH,
        f"caller {echo(identity.subject)} acts for {identity.org}/{identity.team} "
        f"but the job is for {spec.tenant}; submit with a token for {spec.tenant}",
    )


def _queue_refused(identity: Identity, spec: JobSpec) -> Rejection:
    allowed = ", ".join(sorted(identity.queues))
    asked = f"queue {spec.queue}" if spec.queue else "no queue (and the policy sets no default)"
    return Rejection.of(
        ReasonCode.QUEUE_NOT_ALLOWED, f"job asks for {asked}; the caller's token allows only: {allowed}"
    )


def _schema_message(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"submission does not match the job schema: {shown}{more}"


def _loc(loc: tuple[int | str, ...]) -> str:
    path = ".".join(str(part) for part in loc) or "submission"
    return echo(path)[1:-1]  # sanitised and bounded: keys can be caller-supplied text
