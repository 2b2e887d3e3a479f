"""Flavor eligibility, Kueue style: a pod set may use a flavor only if the flavor's node labels
match its node selector and required node affinity, and it tolerates the flavor's taints.

As in Kueue's flavor assigner, only the label keys the flavor itself defines are compared: a
selector on a key the flavor does not label is ignored (the scheduler checks it on nodes).
Required affinity terms are ORed, the requirements of one term ANDed; a term left empty by
that filtering matches every flavor. Only ``NoSchedule`` and ``NoExecute`` taints exclude.
``PodSet.excluded_flavors`` is a batchyard extension: flavors the scheduler found can never
hold the pods, or that the service rules out for its own reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Mapping


class SelectorOperator(str, Enum):
    """Operators of a node selector requirement (the set-based subset Kueue matches on flavors)."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    """One requirement of a required node affinity term: ``key operator values``."""

    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when the labels satisfy the requirement."""
        if self.operator is SelectorOperator.EXISTS:
            return self.key in labels
        if self.operator is SelectorOperator.DOES_NOT_EXIST:
            return self.key not in labels
        inside = labels.get(self.key) in self.values
        return inside if self.operator is SelectorOperator.IN else (self.key in labels and not inside)


@dataclass(frozen=True, slots=True)
class Taint:
    """A taint on a flavor's nodes (``key=value:effect``)."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"  # NoSchedule, PreferNoSchedule or NoExecute


@dataclass(frozen=True, slots=True)
class Toleration:
    """A toleration; ``Exists`` tolerates any value, an empty key with Exists tolerates all."""

    key: str = ""
    operator: str = "Equal"  # Equal or Exists
    value: str = ""
    effect: str = ""  # empty tolerates every effect

    def tolerates(self, taint: Taint) -> bool:
        """True when this toleration covers the taint."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == taint.key
        return self.key == taint.key and self.value == taint.value


def untolerated_taint(taints: Iterable[Taint], tolerations: Iterable[Toleration]) -> Taint | None:
    """Returns the first NoSchedule/NoExecute taint no toleration covers, if any."""
    tolerations = tuple(tolerations)
    for taint in taints:
        if taint.effect in ("NoSchedule", "NoExecute") and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


def _affinity_matches(terms, labels: Mapping[str, str]) -> bool:
    """True when any term (restricted to the flavor's label keys) matches; no terms match all."""
    if not terms:
        return True
    for term in terms:
        kept = [r for r in term if r.key in labels]
        if not kept or all(r.matches(labels) for r in kept):
            return True
    return False


def flavor_mismatch(pod_set, flavor) -> str | None:
    """Returns why ``pod_set`` may not use ``flavor`` (a ResourceFlavor), or None when it may."""
    if flavor.name in pod_set.excluded_flavors:
        return f"flavor {flavor.name} is excluded for this workload"
    taint = untolerated_taint(flavor.node_taints, (*pod_set.tolerations, *flavor.tolerations))
    if taint is not None:
        return f"untolerated taint {taint.key}={taint.value}:{taint.effect} in flavor {flavor.name}"
    labels = flavor.node_labels
    if any(k in labels and labels[k] != v for k, v in pod_set.node_selector.items()):
        return f"flavor {flavor.name} doesn't match node selector"
    if not _affinity_matches(pod_set.affinity, labels):
        return f"flavor {flavor.name} doesn't match node affinity"
    return None
