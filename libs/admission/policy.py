"""Declarative admission policy: a global default layer merged under per-tenant overrides.

YAML shape (every field optional; see docs/admission.md)::

    version: 1
    default:                      # applies to every tenant
      allowed_registries: [registry.batchyard.io]
      allowed_priority_classes: [batch-low, batch-normal]
      required_labels: [cost-center]
      job_limits: {max_gpus: 64, max_pods: 512, max_runtime_s: 604800}
      team_limits: {max_gpus: 256, max_pods: 4096, max_workloads: 1000}
      defaults: {queue: default, priority_class: batch-normal, cpu_milli: 1000, memory_mib: 2048}
    tenants:
      acme:                       # org-wide override
        allowed_registries: [registry.batchyard.io, ghcr.io/acme]
      acme/vision:                # team override, merged over the org's
        job_limits: {max_gpus: 128}

Merge order: built-in baseline < `default` < org < org/team. A field left out (or null)
inherits; a field set replaces the inherited value (lists are replaced, not appended);
nested groups (`job_limits`, `team_limits`, `defaults`) merge field by field. The
baseline fails closed: no registry, no priority class and no host access are allowed
until the policy says so. A limit left unset everywhere means "no limit"; `allowed_queues`
left unset means the queues listed in the caller's token are the only restriction.
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, PrivateAttr, Strict, ValidationError

from libs.events.registry import describe

from .spec import MAX_CPU_MILLI, MAX_MEMORY_MIB, MAX_RUNTIME_S, LabelKey, Name, _Frozen

_Count = Annotated[int, Strict(), Field(ge=0)]
_REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._/-]+[a-z0-9]+)*)?$"
_Registry = Annotated[str, Strict(), Field(pattern=_REGISTRY, max_length=255)]
_TENANT_KEY = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"


class PolicyError(ValueError):
    """The policy document is not valid YAML or does not match the policy schema."""


class JobLimits(_Frozen):
    """Maxima for one job (the whole gang at full size)."""

    max_gpus: _Count | None = None  # GPUs across all pods; fractional shares count as parts
    max_pods: _Count | None = None  # pods across all pod sets
    max_runtime_s: Annotated[int, Strict(), Field(ge=1, le=MAX_RUNTIME_S)] | None = None  # wall-clock cap


class TeamLimits(_Frozen):
    """Maxima for everything a team has admitted and not yet finished, this job included."""

    max_gpus: _Count | None = None  # GPUs across the team's admitted workloads
    max_pods: _Count | None = None  # pods across the team's admitted workloads
    max_workloads: _Count | None = None  # admitted, unfinished workloads


class Defaults(_Frozen):
    """Values filled into submissions that leave them out."""

    queue: Name | None = None  # local queue
    priority_class: Name | None = None  # priority class
    cpu_milli: Annotated[int, Strict(), Field(ge=0, le=MAX_CPU_MILLI)] | None = None  # per pod
    memory_mib: Annotated[int, Strict(), Field(ge=0, le=MAX_MEMORY_MIB)] | None = None  # per pod
    max_runtime_s: Annotated[int, Strict(), Field(ge=1, le=MAX_RUNTIME_S)] | None = None  # falls back to the job limit


class PolicyLayer(_Frozen):
    """One layer of policy (global default, org or team); None means "inherit"."""

    # Image sources allowed: a registry host ("ghcr.io") or a host/path prefix ("ghcr.io/acme").
    allowed_registries: Annotated[tuple[_Registry, ...], Field(max_length=256)] | None = None
    allow_privileged: Annotated[bool, Strict()] | None = None  # privileged containers
    allow_host_network: Annotated[bool, Strict()] | None = None  # hostNetwork pods
    allow_host_pid: Annotated[bool, Strict()] | None = None  # hostPID pods
    allow_host_path: Annotated[bool, Strict()] | None = None  # hostPath volumes
    # Label keys every job must carry.
    required_labels: Annotated[tuple[LabelKey, ...], Field(max_length=64)] | None = None
    # Priority classes the tenant may use (a class not listed could preempt other teams).
    allowed_priority_classes: Annotated[tuple[Name, ...], Field(max_length=64)] | None = None
    # Local queues the tenant may use; unset everywhere = whatever the caller's token lists.
    allowed_queues: Annotated[tuple[Name, ...], Field(max_length=256)] | None = None
    job_limits: JobLimits | None = None  # per-job maxima
    team_limits: TeamLimits | None = None  # per-team maxima
    defaults: Defaults | None = None  # defaults for omitted fields


# Fails closed: nothing that widens access is allowed until a layer says so.
BASELINE = PolicyLayer(
    allowed_registries=(),
    allow_privileged=False,
    allow_host_network=False,
    allow_host_pid=False,
    allow_host_path=False,
    required_labels=(),
    allowed_priority_classes=(),
    job_limits=JobLimits(),
    team_limits=TeamLimits(),
    defaults=Defaults(cpu_milli=1000, memory_mib=1024),
)


class Policy(_Frozen):
    """The whole policy document: a global default and overrides by "org" or "org/team"."""

    version: Annotated[int, Strict(), Field(ge=1, le=1)] = 1  # schema version of the document
    default: PolicyLayer = PolicyLayer()  # applies to every tenant
    tenants: dict[Annotated[str, Field(pattern=_TENANT_KEY)], PolicyLayer] = {}  # overrides
    _resolved: dict[tuple[str, str], PolicyLayer] = PrivateAttr(default_factory=dict)

    def for_tenant(self, org: str, team: str) -> PolicyLayer:
        """Returns the fully merged policy of tenant `org/team` (no field left None but limits)."""
        cached = self._resolved.get((org, team))
        if cached is None:
            cached = BASELINE
            for layer in (self.default, self.tenants.get(org), self.tenants.get(f"{org}/{team}")):
                if layer is not None:
                    cached = merge(cached, layer)
            self._resolved[(org, team)] = cached
        return cached


def merge(base: BaseModel, override: BaseModel) -> Any:
    """Returns `base` with every non-None field of `override` laid over it, nested models field by field."""
    updates: dict[str, Any] = {}
    for name in type(override).model_fields:
        value = getattr(override, name)
        if value is None:
            continue
        inherited = getattr(base, name)
        updates[name] = merge(inherited, value) if isinstance(value, BaseModel) and inherited is not None else value
    return base.model_copy(update=updates)


def load_policy(text: str) -> Policy:
    """Returns the policy in YAML `text`; raises PolicyError saying what is wrong."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from exc
    return policy_from_mapping(raw if raw is not None else {})


def policy_from_mapping(raw: object) -> Policy:
    """Returns the policy in an already parsed mapping; raises PolicyError saying what is wrong."""
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"invalid policy: {describe(exc, root='policy')}") from exc
