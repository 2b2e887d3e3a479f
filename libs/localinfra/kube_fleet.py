"""A fleet spec on Kubernetes: each cluster of the spec gets its nodes as kwok Nodes and a connector config, so the
demo and the tests run the same fleet on real API servers as on the simulated one."""

from __future__ import annotations

from pathlib import Path

import yaml

from libs.fleet.kube_nodes import cluster_nodes, price_table
from libs.fleet.spec import FleetSpec
from libs.localinfra.kafka import REPO_ROOT
from libs.localinfra.kube_session import KubeCluster

SIGNING_KEYS = REPO_ROOT / "deploy" / "kube" / "connector-keys.yaml"
TEAM_NAMESPACES = {"vision": ("acme", "vision"), "nlp": ("acme", "nlp"), "research": ("globex", "research")}


def clusters_of(fleet: FleetSpec) -> list[str]:
    """Returns the fleet's cluster names in the order their pools appear."""
    return list(dict.fromkeys(p.cluster for p in fleet.pools))


def connector_config(fleet: FleetSpec, cluster: str, *, time_scale: float = 1.0, drain_settle_s: float = 0.0,
                     simulate_repairs: bool = True, tenants: dict[str, tuple[str, str]] = TEAM_NAMESPACES,
                     extra: dict | None = None) -> dict:
    """Returns the connector's config for one cluster of ``fleet``: its prices, the teams' namespaces, and (on
    kwok, where nobody reboots anything) repairs that take the fleet's repair times; ``extra`` fields over it."""
    config = {"cluster": cluster, "signing_key_file": str(SIGNING_KEYS), "time_scale": time_scale,
              "drain_settle_s": drain_settle_s, "prices": price_table(fleet, cluster),
              "tenants": {ns: {"org": org, "team": team} for ns, (org, team) in tenants.items()}}
    if simulate_repairs:
        f = fleet.faults
        config["simulated_repairs"] = {"reboot_s": f.reboot_s, "reimage_s": f.reimage_s, "replace_s": f.replace_s}
    return {**config, **(extra or {})}


def set_up(fleet: FleetSpec, clusters: dict[str, KubeCluster], workdir: Path, **options) -> dict[str, dict[str, str]]:
    """Prepares every cluster of ``fleet`` (CRDs, RBAC, team namespaces, kwok nodes) and writes its connector's
    config; returns, per cluster, the environment its connector process needs."""
    env = {}
    for name, cluster in clusters.items():
        cluster.prepare(namespaces=TEAM_NAMESPACES)
        cluster.add_nodes(cluster_nodes(fleet, name))
        path = workdir / f"connector-{name}.yaml"
        path.write_text(yaml.safe_dump(connector_config(fleet, name, **options), sort_keys=False))
        env[name] = {"BATCHYARD_KUBE_CONNECTOR_CONFIG": str(path),
                     "BATCHYARD_KUBECONFIG": str(cluster.connector_kubeconfig())}
    return env
