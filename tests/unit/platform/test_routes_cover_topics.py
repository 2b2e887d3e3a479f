"""Every event a service's topics carry is either handled or knowingly ignored by that service's router: a new
event type added to a topic (as a priority change was to the quota and admission topics) must never reach a
reader that would dead-letter it as ``unhandled-type``."""

import pytest

from libs.platform.unit_of_work import Router
from services.admission.app import DEFINITION as ADMISSION
from services.admission.handlers import AdmissionHandlers
from services.cost_reporting.app import DEFINITION as COST
from services.cost_reporting.handlers import CostHandlers
from services.kube_connector.app import DEFINITION as CONNECTOR
from services.kube_connector.handlers import ConnectorHandlers
from services.node_repair.app import DEFINITION as NODE_REPAIR
from services.node_repair.handlers import RepairHandlers
from services.quota.app import DEFINITION as QUOTA
from services.quota.handlers import QuotaHandlers
from services.scheduler.app import DEFINITION as SCHEDULER
from services.scheduler.handlers import SchedulerHandlers
from services.sim_fleet.app import DEFINITION as SIM_FLEET
from services.sim_fleet.handlers import FleetHandlers


def bare(cls) -> Router:
    """The router of a handler class, built on an instance without state (routers only name bound methods)."""
    return cls.__new__(cls).router()


ROUTERS = [
    (ADMISSION, lambda: bare(AdmissionHandlers)),
    (QUOTA, lambda: bare(QuotaHandlers)),
    (SCHEDULER, lambda: bare(SchedulerHandlers)),
    (NODE_REPAIR, lambda: bare(RepairHandlers)),
    (COST, lambda: bare(CostHandlers)),
    (SIM_FLEET, lambda: bare(FleetHandlers)),
    (CONNECTOR, lambda: bare(ConnectorHandlers)),
]


@pytest.mark.parametrize(("definition", "router"), ROUTERS, ids=[d.name for d, _ in ROUTERS])
def test_every_event_on_a_consumed_topic_is_routed(definition, router):
    routes = router()
    carried = {(topic.name, name) for topic in definition.consumes for name in topic.event_names}
    unrouted = sorted((topic, name) for topic, name in carried
                      if name not in routes.handlers and name not in routes.ignored)
    assert not unrouted, f"{definition.name} would dead-letter these as unhandled-type: {unrouted}"
