"""Pure admission core: identity tokens, declarative policy, defaults and the admission decision.

No I/O and no clock of its own: the service passes `now` and a `ReplayCache` adapter in.
A service calls `decide(...)` and turns the returned `Decision` into events and an audit row.
"""

from .decision import AuditRecord, Decision, Outcome, decide, parse_submission, submission_digest
from .defaults import apply_defaults
from .policy import BASELINE, Defaults, JobLimits, Policy, PolicyError, PolicyLayer, TeamLimits, load_policy
from .reasons import ReasonCode, Rejection, Violation
from .replay import InMemoryReplayCache, ReplayCache
from .rules import RULE_IDS, RULES, TeamUsage, evaluate, registry_allowed
from .spec import JobSpec, PodSet, Resources, Tenant, Toleration, TopologyRequirement, image_repository
from .token import Claims, Identity, Keyring, SigningKey, authenticate, claim_token, sign, verify

__all__ = [
    "BASELINE", "RULES", "RULE_IDS",
    "AuditRecord", "Claims", "Decision", "Defaults", "Identity", "InMemoryReplayCache", "JobLimits", "JobSpec",
    "Keyring", "Outcome", "PodSet", "Policy", "PolicyError", "PolicyLayer", "ReasonCode", "Rejection",
    "ReplayCache", "Resources", "SigningKey", "TeamLimits", "TeamUsage", "Tenant", "Toleration",
    "TopologyRequirement", "Violation",
    "apply_defaults", "authenticate", "claim_token", "decide", "evaluate", "image_repository", "load_policy",
    "parse_submission", "registry_allowed", "sign", "submission_digest", "verify",
]
