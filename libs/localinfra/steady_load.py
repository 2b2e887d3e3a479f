"""The platform under steady load on the simulated fleet: one shape shared by benchmarks.e2e_load and the tests
of broker loss and chaos.

Each workload is one pod (100m CPU, 128 MiB) running 30 s of simulated time, from three teams of two orgs, on a
fleet of 48 CPU nodes whose quota is far larger than any load we offer, so what is measured is the platform's own
speed and correctness, not queueing for capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from libs.events import PodSet, Resources, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.fleet.spec import FleetSpec, PoolSpec

TIME_SCALE = 600  # a workload's 30 simulated seconds last 50 ms of wall time
TEAMS = (Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp"), Tenant(org="globex", team="research"))
FLEET = FleetSpec(name="steady", pools=(
    PoolSpec(name="cpu", cluster="onprem-dc1", zone="z1", instance_type="r650", nodes=48, cpu_milli=64000,
             memory_mib=262144, price_per_hour="0.90", pricing="on-prem-amortised"),))
SPEC = WorkloadSpec(name="steady", pod_sets=(PodSet(name="main", count=1, requests=Resources(cpu_milli=100,
                                                                                               memory_mib=128)),),
                    duration_s=30)
_FLAVOR = """apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: cpu-onprem}
spec:
  nodeLabels: {batchyard.dev/cluster: onprem-dc1, batchyard.dev/pool: cpu}"""
_TEAM_QUEUES = """apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {{name: {org}-{team}}}
spec:
  cohort: {org}
  resourceGroups:
  - coveredResources: [cpu, memory]
    flavors:
    - name: cpu-onprem
      resources:
      - {{name: cpu, nominalQuota: {cpu}{borrowing}}}
      - {{name: memory, nominalQuota: 4Ti}}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {{name: default, namespace: {team}}}
spec: {{clusterQueue: {org}-{team}}}"""


def queues_yaml(cpu: int = 1000, borrowing_limit: int | None = None) -> str:
    """Returns the quota config: the flavor, and per team a cluster queue in its org's cohort with ``cpu`` cores of
    nominal quota (and a borrowing limit, if given) and its default local queue."""
    borrowing = "" if borrowing_limit is None else f", borrowingLimit: {borrowing_limit}"
    return "\n---\n".join([_FLAVOR, *(_TEAM_QUEUES.format(org=t.org, team=t.team, cpu=cpu, borrowing=borrowing)
                                     for t in TEAMS)]) + "\n"


QUEUES = queues_yaml()


def platform_env(directory: Path, fleet: FleetSpec = FLEET, queues: str = QUEUES,
                 time_scale: int = TIME_SCALE) -> dict[str, str]:
    """Writes the fleet and the quota config into ``directory``; returns the services' extra environment."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fleet.yaml").write_text(fleet.model_dump_json())
    (directory / "queues.yaml").write_text(queues)
    return {"BATCHYARD_QUOTA_CONFIG": str(directory / "queues.yaml"),
            "BATCHYARD_FLEET_SPEC": str(directory / "fleet.yaml"), "BATCHYARD_TIME_SCALE": str(time_scale)}


def submissions(count: int, prefix: str, sign: Callable[[WorkloadSubmitted], WorkloadSubmitted],
                producer: str = "steady-load") -> list[WorkloadSubmitted]:
    """Returns ``count`` submissions (ids ``{prefix}-000000`` on) signed by ``sign`` (e.g. the demo's signer,
    services.admission.signing.demo_signer), the teams taking turns."""
    return [sign(WorkloadSubmitted(workload_id=f"{prefix}-{i:06d}", tenant=TEAMS[i % len(TEAMS)], spec=SPEC,
                                   producer=producer)) for i in range(count)]
