"""Sentences that say why a workload waits, built from the quota tree's numbers."""

from __future__ import annotations

from libs.quota.config import FlavorResource
from libs.quota.quantity import format_quantity
from libs.quota.tree import QuotaNode, QuotaTree

_SHORT = {"nvidia.com/gpu": "GPU", "cpu": "CPU", "memory": "memory", "pods": "pods"}


def resource_word(resource: str) -> str:
    """Returns the short user-facing word for a resource ("GPU" for nvidia.com/gpu)."""
    return _SHORT.get(resource, resource)


def describe_shortfall(tree: QuotaTree, node: QuotaNode, fr: FlavorResource, need: int) -> str:
    """Returns e.g. "team-a at 100% of nominal GPU quota in h100 (8/8); cohort has no lendable h100"."""
    flavor, resource = fr
    word = resource_word(resource)
    nominal = node.subtree.get(fr, 0)
    used = node.usage.get(fr, 0)
    pct = 100 * used // nominal if nominal else 100
    fmt = lambda amount: format_quantity(resource, amount)  # noqa: E731
    head = (f"{node.name} at {pct}% of nominal {word} quota in {flavor} "
            f"({fmt(used)}/{fmt(nominal)}, needs {fmt(need)})")
    if node.parent is None:
        return head + "; not in a cohort, cannot borrow"
    own_free = max(0, nominal - used)
    lendable = max(0, tree.available(node, fr) - own_free)
    quota = node.quotas.get(fr)
    if quota is not None and quota.borrowing_limit is not None and used - nominal >= quota.borrowing_limit:
        return head + f"; borrowingLimit {fmt(quota.borrowing_limit)} reached"
    cohort = node.parent.name
    if lendable == 0:
        return head + f"; cohort {cohort} has no lendable {flavor} {word}"
    return head + f"; cohort {cohort} can lend only {fmt(lendable)} {flavor} {word}"


def describe_not_covered(node_name: str, resource: str, flavors: list[str]) -> str:
    """Returns the sentence for a resource the cluster queue has no quota for."""
    if not flavors:
        return f"cluster queue {node_name} has no quota for {resource_word(resource)} ({resource})"
    return f"cluster queue {node_name} defines no {resource} quota in flavors {', '.join(flavors)}"


def ordinal(n: int) -> str:
    """Returns 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, ..., 111th, 112th."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe_position(position: int, queue: str, ahead_reason: str | None) -> str:
    """Returns "3rd in team-a-cq" plus why the queue is stuck, if known."""
    text = f"{ordinal(position)} in {queue}"
    return f"{text}; {ahead_reason}" if ahead_reason else text
