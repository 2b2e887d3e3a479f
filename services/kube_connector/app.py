"""Composition root of the Kubernetes connector: one process per cluster (``batchyard run kube-connector``).

Its consumer group, Postgres schema and producer name carry the cluster's name (``kube-connector-<cluster>``),
so several clusters' connectors share one platform without sharing work (docs/adr/0010).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from faststream import FastStream

from libs.events.topics import ADMISSION, LIFECYCLE, NODE_HEALTH, NODE_INVENTORY, NODE_REPAIR, PLACEMENT, QUOTA, \
    SUBMITTED
from libs.platform.clock import load_clock
from libs.platform.periodic import supervised
from libs.platform.service import Runtime, ServiceDefinition, instance_name
from libs.platform.service import create_app as create_service_app
from libs.platform.settings import Settings
from libs.platform.unit_of_work import Router
from services.admission.signing import signer_from_file
from services.kube_connector.api import KubeApi
from services.kube_connector.cluster_status import ClusterPulse
from services.kube_connector.config import ConnectorConfig, load_connector_config
from services.kube_connector.handlers import ConnectorHandlers
from services.kube_connector.informer import Informer
from services.kube_connector.intake import Intake
from services.kube_connector.nodes_sync import NodeSync
from services.kube_connector.pod_index import PodIndex
from services.kube_connector.runner import WorkloadRunner
from services.kube_connector.status_writer import StatusWriter


@dataclasses.dataclass
class Connector:
    """The running connector's parts (for tests that look inside; the Runtime stops its loops and the API)."""

    api: KubeApi
    intake: Intake
    runner: WorkloadRunner
    nodes: NodeSync
    writer: StatusWriter
    pods: PodIndex
    pulse: ClusterPulse


def assemble(runtime: Runtime, config: ConnectorConfig, api: KubeApi, clock) -> Connector:
    """Wires the connector's parts together (no I/O)."""
    namespace, wake, now = runtime.settings.topic_namespace, (lambda: runtime.relay.wake()), time.time
    signer = signer_from_file(config.signing_key_file, subject=f"kube-connector@{config.cluster}")
    holder: dict = {}
    pods = PodIndex(on_pod=lambda ns, owner: holder["runner"].touch_owner(ns, owner),
                    on_node=lambda node: holder["nodes"].touch(node))
    writer = StatusWriter(api, runtime.pool, instance=instance_name(), period_s=0.5)
    intake = Intake(api, runtime.pool, config, signer, clock, namespace, on_submitted=writer.touch,
                    on_emitted=wake, now=now)
    runner = WorkloadRunner(api, runtime.pool, intake, pods, cluster=config.cluster,
                            scheduler_name=config.scheduler_name, clock=clock, namespace=namespace,
                            on_emitted=lambda: (wake(), writer.touch()), now=now)
    nodes = NodeSync(api, runtime.pool, config, pods, clock, namespace, on_emitted=wake, touch_workload=runner.touch,
                     now=now)
    holder.update(runner=runner, nodes=nodes)
    intake.on_object = lambda kind, ns, name: runner.touch_owner(ns, name)
    pulse = ClusterPulse(api, runtime.pool, config.cluster, clock, namespace, on_emitted=wake, now=now,
                         period_s=max(0.5, config.cluster_heartbeat_s / config.time_scale))
    return Connector(api, intake, runner, nodes, writer, pods, pulse)


async def start(runtime: Runtime) -> Router:
    settings = runtime.settings
    config = load_connector_config(settings.kube_connector_config)
    api = await KubeApi.connect(settings.kubeconfig or config.kubeconfig, config.context,
                                concurrency=config.api_concurrency)
    clock = await load_clock(runtime.pool, config.time_scale)
    c = assemble(runtime, config, api, clock)
    informers = [
        Informer(api, "/api/v1/pods", c.pods.changed, name="pod informer",
                 query={"fieldSelector": f"spec.schedulerName={config.scheduler_name}"}),
        Informer(api, "/api/v1/nodes", c.nodes.node_changed, name="node informer"),
        Informer(api, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", c.nodes.lease_changed,
                 name="lease informer"),
    ]
    loops = [(i.name, i.run) for i in informers] + await c.intake.loops()
    loops += [(type(part).__name__, part.run) for part in (c.runner, c.writer, c.nodes, c.pulse)]
    for name, run in loops:
        runtime.spawn(supervised(run, name=name), name=name)
    runtime.on_stop(api.close)
    runtime.service = c
    def touch(workload_id: str) -> None:
        c.runner.touch(workload_id)
        c.writer.touch()
    handlers = ConnectorHandlers(config.cluster, clock, touch=touch, touch_node=c.nodes.touch, now=time.time)
    return handlers.router()


DEFINITION = ServiceDefinition(
    name="kube-connector", consumes=(ADMISSION, QUOTA, PLACEMENT, NODE_REPAIR),
    produces=(SUBMITTED, NODE_INVENTORY, NODE_HEALTH, LIFECYCLE), service_dir=Path(__file__).parent,
    start=start, batch=True,  # a poll batch of events per transaction: its handlers only write rows
    description="The cluster side on Kubernetes: BatchJobs and queue-labelled Jobs, RayJobs, SparkApplications and "
                "PyTorchJobs in as submissions; pods created and bound where the scheduler placed them; pod phases, "
                "Nodes and their health out, and the cluster's own heartbeat; cordons, drains and evictions carried "
                "out; status written back.")


def create_app(settings: Settings | None = None) -> FastStream:
    """Returns the connector of the cluster named in its config file (``BATCHYARD_KUBE_CONNECTOR_CONFIG``)."""
    settings = settings or Settings()
    cluster = load_connector_config(settings.kube_connector_config).cluster
    return create_service_app(settings, dataclasses.replace(DEFINITION, name=f"kube-connector-{cluster}"))
