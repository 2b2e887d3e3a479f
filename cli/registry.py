"""Every service by its CLI name, imported lazily so ``batchyard --help`` stays fast."""

from __future__ import annotations

import importlib

SERVICES = {
    "admission": "services.admission.app",
    "quota": "services.quota.app",
    "scheduler": "services.scheduler.app",
    "node-repair": "services.node_repair.app",
    "cost-reporting": "services.cost_reporting.app",
    "sim-fleet": "services.sim_fleet.app",
    "kube-connector": "services.kube_connector.app",
}


def definition(name: str):
    """Returns the service's ServiceDefinition."""
    return importlib.import_module(SERVICES[name]).DEFINITION


def create_app(name: str, settings=None):
    """Returns the service's FastStream app."""
    return importlib.import_module(SERVICES[name]).create_app(settings)
