"""The spine's cost share: a workload's weighted share of each node it ran on, GPUs dominant.

share(node) = sum over its pods on the node of  gpu_milli / node_gpu_milli      if the node has GPUs
                                                max(cpu share, memory share)      otherwise
price = node price per hour × share × hours. The finance-grade model (hour splitting, idle cost,
reconciliation to the cent) is libs/cost, documented in docs/cost.md.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

from libs.events import WorkloadPlaced


def node_shares(placed: WorkloadPlaced, nodes: dict[str, dict]) -> dict[str, float]:
    """Returns node id → the workload's share of that node (capped at 1)."""
    sets = {ps.name: ps for ps in placed.spec.pod_sets}
    shares: dict[str, float] = defaultdict(float)
    for a in placed.assignments:
        node, req = nodes.get(a.node_id), sets[a.pod_set].requests
        if node is None:
            continue
        if node["gpu"] > 0:
            share = req.gpu_milli_total / (node["gpu"] * 1000)
            if share == 0:  # a CPU pod on a GPU node pays for the CPU it holds
                share = max(req.cpu_milli / node["cpu_milli"], req.memory_mib / node["memory_mib"])
        else:
            share = max(req.cpu_milli / node["cpu_milli"], req.memory_mib / node["memory_mib"])
        shares[a.node_id] += share
    return {k: min(1.0, v) for k, v in shares.items()}


def amount_micros(price_micros: int, share: float, seconds: float) -> int:
    """Returns price × share × hours, in whole micro-dollars (banker's rounding)."""
    value = Decimal(price_micros) * Decimal(repr(share)) * Decimal(repr(seconds)) / Decimal(3600)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
