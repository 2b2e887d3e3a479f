"""The service's policy file: the core's declarative per-tenant policy plus the priority-class table.

deploy/admission/policy.yaml is a ``libs.admission`` policy document with one more top-level field,
``priority_classes`` (name -> priority value carried by WorkloadAccepted). Which classes a tenant may
use is the core's ``allowed_priority_classes`` rule; this table only gives each class its number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from libs.admission import Policy, PolicyError
from libs.admission.policy import policy_from_mapping

# The spine's classes, kept as the fallback table when a policy file gives none.
DEFAULT_PRIORITY_CLASSES = {"low": -100, "normal": 0, "high": 100, "critical": 1000}


@dataclass(frozen=True)
class ServicePolicy:
    """What admission decides with: the core policy and the priority value of each class."""

    policy: Policy  # per-tenant rules and defaults (libs.admission)
    priorities: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_CLASSES))  # class -> value

    def priority_of(self, priority_class: str | None) -> int:
        """Returns the priority value of a class (0 for a class the table does not know)."""
        return self.priorities.get(priority_class or "", 0)


def parse_service_policy(text: str) -> ServicePolicy:
    """Returns the service policy in YAML ``text``; raises PolicyError naming the bad field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from None
    raw = dict(raw or {}) if isinstance(raw, dict) or raw is None else raw
    if not isinstance(raw, dict):
        raise PolicyError("policy must be a mapping")
    table = raw.pop("priority_classes", None)
    if table is None:
        table = DEFAULT_PRIORITY_CLASSES
    if not isinstance(table, dict) or not all(isinstance(k, str) and type(v) is int for k, v in table.items()):
        raise PolicyError("priority_classes must map class names to integers")
    return ServicePolicy(policy=policy_from_mapping(raw), priorities=dict(table))


def load_service_policy(path: str | Path) -> ServicePolicy:
    """Returns the service policy in the file at ``path``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from None
    return parse_service_policy(text)
