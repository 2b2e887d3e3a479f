"""A workload's share of a node, and the exact cost split of one node-hour.

The formula (documented with examples in docs/cost.md):

    share(w, node)    = sum over r in {gpu, cpu, memory} of  weight_r * requested_r / capacity_r
    exact(w, h)       = price(h) * sum over w's intervals i of  share(i) * seconds_i(h) / 3600
    idle(h)           = price(h) - sum_w exact(w, h)
    amounts(h)        = largest_remainder(price(h), {w: exact(w, h)} + {IDLE: idle(h)})

Weights depend on the node: on a node with GPUs the GPU weight dominates (90% by default);
on a CPU node CPU and memory split the price. Resources the node does not have drop out
and the other weights are scaled up so they still sum to 1. If the requests on a node ever
exceed its capacity (bad data, overcommit), the workload amounts are scaled down to fit the
price and idle is zero: the ledger still reconciles exactly.
"""

from __future__ import annotations

import functools
import math

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from libs.cost.catalog import PriceVersion
from libs.cost.money import Micros, largest_remainder_of
from libs.cost.usage import MICROS_PER_HOUR, NodeSpec, Owner, Resources, UsageInterval, overlap_micros

IDLE = "(idle)"
"""The ledger party that receives the unallocated part of a node-hour (idle cost of the pool)."""


@dataclass(frozen=True, slots=True)
class ShareWeights:
    """How much of a node's price each resource carries; the three weights sum to 1."""

    gpu: Fraction
    cpu: Fraction
    memory: Fraction

    def __post_init__(self) -> None:
        if min(self.gpu, self.cpu, self.memory) < 0 or self.gpu + self.cpu + self.memory != 1:
            raise ValueError("share weights must be non-negative and sum to 1")

    @classmethod
    def gpu_only(cls) -> ShareWeights:
        """Returns weights where the share is the GPU share alone."""
        return cls(Fraction(1), Fraction(0), Fraction(0))


@dataclass(frozen=True, slots=True)
class CostConfig:
    """Share weights for GPU nodes and for CPU-only nodes."""

    gpu_node: ShareWeights = field(
        default_factory=lambda: ShareWeights(Fraction(9, 10), Fraction(1, 20), Fraction(1, 20))
    )
    cpu_node: ShareWeights = field(
        default_factory=lambda: ShareWeights(Fraction(0), Fraction(1, 2), Fraction(1, 2))
    )


@functools.lru_cache(maxsize=4096)
def _share_basis(capacity: Resources, weights: ShareWeights) -> tuple[tuple[tuple[int, str], ...], int]:
    """Returns integer terms and a denominator with share = sum(coef * requested.attr) / den.

    Integers instead of Fractions: with weights a_r/d and P the product of the present
    capacities, share = sum(a_r * (P / cap_r) * used_r) / (sum(a_r) * P). That is the same
    value, without a gcd after every operation (the hot path is about 5x faster).
    """
    present = [(w, cap, attr) for w, cap, attr in (
        (weights.gpu, capacity.gpus, "gpus"), (weights.cpu, capacity.cpu_millis, "cpu_millis"),
        (weights.memory, capacity.memory_bytes, "memory_bytes")) if cap > 0 and w > 0]
    if not present:
        return (), 1
    d = math.lcm(*(w.denominator for w, _, _ in present))
    product = math.prod(cap for _, cap, _ in present)
    terms = tuple((int(w * d) * (product // cap), attr) for w, cap, attr in present)
    return terms, sum(int(w * d) for w, _, _ in present) * product


def _basis(node: NodeSpec, config: CostConfig) -> tuple[tuple[tuple[int, str], ...], int]:
    weights = config.gpu_node if node.capacity.gpus > 0 else config.cpu_node
    return _share_basis(node.capacity, weights)


def _share_numerator(requested: Resources, terms: tuple[tuple[int, str], ...]) -> int:
    return sum(coef * getattr(requested, attr) for coef, attr in terms)


def node_share(requested: Resources, node: NodeSpec, config: CostConfig) -> Fraction:
    """Returns the weighted fraction of ``node`` that ``requested`` occupies (may exceed 1)."""
    terms, den = _basis(node, config)
    return Fraction(_share_numerator(requested, terms), den)


@dataclass(frozen=True, slots=True)
class NodeHourCost:
    """The exact split of one node-hour's price among workloads and IDLE."""

    node: NodeSpec
    hour: datetime  # start of the UTC hour
    price: PriceVersion  # the price version in force at ``hour``
    amounts: dict[str, Micros]  # party (workload id or IDLE) -> micros; sums to price.hourly
    owners: dict[str, Owner]  # workload id -> owner, for the ledger row's attribution


def exact_workload_amounts(
    node: NodeSpec, hourly: Micros, overlaps: Iterable[tuple[UsageInterval, int]], config: CostConfig,
) -> tuple[dict[str, int], int]:
    """Returns each workload's exact cost on ``node`` as integer numerators over one common
    denominator (``amount_w = numerators[w] / denominator``), given ``(interval, micros in the hour)``."""
    terms, den = _basis(node, config)
    numerators: dict[str, int] = {}
    for iv, micros in overlaps:
        num = hourly * _share_numerator(iv.resources, terms) * micros
        numerators[iv.workload] = numerators.get(iv.workload, 0) + num
    return numerators, den * MICROS_PER_HOUR


def cost_node_hour(
    node: NodeSpec, hour: datetime, price: PriceVersion, intervals: Iterable[UsageInterval],
    config: CostConfig,
) -> NodeHourCost:
    """Returns the split of one node-hour; ``intervals`` should be canonical (one per allocation)."""
    overlaps = [(iv, m) for iv in intervals if iv.node == node.node and (m := overlap_micros(iv, hour)) > 0]
    ivs = [iv for iv, _ in overlaps]
    nums, den = exact_workload_amounts(node, price.hourly, overlaps, config)
    if IDLE in nums:
        raise ValueError(f"{IDLE!r} is reserved and cannot be a workload id")
    used = sum(nums.values())
    if used > price.hourly * den:  # overcommitted: scale to fit the price, nothing idle
        nums = {w: price.hourly * n for w, n in nums.items()}
        den = used
    nums[IDLE] = price.hourly * den - sum(nums.values())
    amounts = largest_remainder_of(price.hourly, nums, den, order_key=str)
    owners = {iv.workload: iv.owner for iv in sorted(ivs, key=lambda iv: iv.rank)}
    return NodeHourCost(node, hour, price, amounts, owners)
