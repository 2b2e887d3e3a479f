"""The fleet spec: clusters, pools, nodes, GPU models, topology and prices, described in YAML."""

from libs.fleet.spec import FleetSpec, PoolSpec, load_fleet

__all__ = ["FleetSpec", "PoolSpec", "load_fleet"]
