"""The fleet spec as Kubernetes Node objects for kwok: the same pools, racks, blocks, GPUs and prices as the
simulated fleet, written with the labels real clusters carry (instance type, zone, GPU product, capacity
type), so the Kubernetes connector maps them back to the same inventory the sim fleet reports."""

from __future__ import annotations

from libs.fleet.spec import FleetSpec, PoolSpec

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"
PODS_PER_NODE = "512"


def gpu_product(model: str) -> str:
    """Returns the product label NVIDIA's GPU feature discovery would give ``model`` ("H100" -> "NVIDIA-H100")."""
    return f"NVIDIA-{model}"


def capacity_type(pool: PoolSpec) -> str:
    """Returns the node's ``karpenter.sh/capacity-type``: spot or on-demand (owned machines count as on-demand)."""
    return "spot" if pool.pricing == "spot" else "on-demand"


def pool_nodes(pool: PoolSpec) -> list[dict]:
    """Returns one Node manifest per node of ``pool`` (named ``<pool>-<index>``, as the sim fleet names them)."""
    resources = {"cpu": f"{pool.cpu_milli}m", "memory": f"{pool.memory_mib}Mi", "pods": PODS_PER_NODE}
    if pool.gpus:
        resources[GPU_RESOURCE] = str(pool.gpus)
    taints = [{"key": t.key, "effect": t.effect, **({"value": t.value} if t.value is not None else {})}
              for t in pool.taints]
    nodes = []
    for i in range(pool.nodes):
        rack = i // pool.nodes_per_rack
        labels = {
            **pool.labels,
            "kubernetes.io/hostname": f"{pool.name}-{i:04d}", "type": "kwok",
            "node.kubernetes.io/instance-type": pool.instance_type, "topology.kubernetes.io/zone": pool.zone,
            "karpenter.sh/capacity-type": capacity_type(pool), "batchyard.dev/pricing": pool.pricing,
            "batchyard.dev/pool": pool.name, "batchyard.dev/rack": f"{pool.name}-r{rack}",
            "batchyard.dev/block": f"{pool.name}-b{rack // pool.racks_per_block}",
        }
        if pool.gpu_model:
            labels |= {"nvidia.com/gpu.product": gpu_product(pool.gpu_model), "nvidia.com/gpu.count": str(pool.gpus)}
        nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"{pool.name}-{i:04d}", "labels": labels,
                         "annotations": {KWOK_ANNOTATION: "fake"}},
            "spec": {"taints": taints} if taints else {},
            "status": {"capacity": dict(resources), "allocatable": dict(resources)},
        })
    return nodes


def cluster_nodes(fleet: FleetSpec, cluster: str) -> list[dict]:
    """Returns the Node manifests of every pool of ``fleet`` in ``cluster``."""
    return [node for pool in fleet.pools if pool.cluster == cluster for node in pool_nodes(pool)]


def price_table(fleet: FleetSpec, cluster: str) -> list[dict]:
    """Returns the connector's price entries for ``cluster``'s pools: instance type and capacity type -> $/hour."""
    seen: dict[tuple[str, str], dict] = {}
    for pool in fleet.pools:
        if pool.cluster == cluster:
            entry = {"instance_type": pool.instance_type, "capacity_type": capacity_type(pool),
                     "hourly": str(pool.price_per_hour)}
            seen.setdefault((pool.instance_type, capacity_type(pool)), entry)
    return list(seen.values())
