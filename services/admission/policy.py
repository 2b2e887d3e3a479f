"""The service's policy file: the core's declarative per-tenant policy plus the priority-class table.

deploy/admission/policy.yaml is a ``libs.admission`` policy document with one more top-level field,
``priority_classes`` (name -> priority value carried by WorkloadAccepted). Which classes a tenant may
use is the core's ``allowed_priority_classes`` rule; this table only gives each class its number.
The whole file is one pydantic model (the core's ``Policy`` plus the table): unknown fields and wrong types are
refused with the field's path, e.g. ``invalid policy: default.allow_privleged: unknown field`` or
``invalid policy: priority_classes.low: Input should be a valid integer`` (ADR 0018).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, StrictInt, ValidationError

from libs.admission import Policy, PolicyError
from libs.admission.spec import Name
from libs.events.validation import problems

# The spine's classes, kept as the fallback table when a policy file gives none.
DEFAULT_PRIORITY_CLASSES = {"low": -100, "normal": 0, "high": 100, "critical": 1000}


class ServicePolicyFile(Policy):
    """The file: the core's policy document and the priority-class table (None: the defaults)."""

    priority_classes: dict[Name, Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]] | None = None


@dataclass(frozen=True)
class ServicePolicy:
    """What admission decides with: the core policy and the priority value of each class."""

    policy: Policy  # per-tenant rules and defaults (libs.admission)
    priorities: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_CLASSES))  # class -> value

    def priority_of(self, priority_class: str | None) -> int:
        """Returns the priority value of a class (0 for a class the table does not know)."""
        return self.priorities.get(priority_class or "", 0)


def parse_service_policy(text: str) -> ServicePolicy:
    """Returns the service policy in YAML ``text``; raises PolicyError naming the bad field's path."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from None
    if not isinstance(raw, dict | None):
        raise PolicyError("policy must be a mapping")
    try:
        doc = ServicePolicyFile.model_validate(raw or {})
    except ValidationError as exc:
        raise PolicyError(f"invalid policy: {'; '.join(problems(exc, root='policy')[:5])}") from None
    table = DEFAULT_PRIORITY_CLASSES if doc.priority_classes is None else doc.priority_classes
    return ServicePolicy(policy=Policy(version=doc.version, default=doc.default, tenants=doc.tenants),
                         priorities=dict(table))


def load_service_policy(path: str | Path) -> ServicePolicy:
    """Returns the service policy in the file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from None
    return parse_service_policy(text)
