"""The quota service's event ↔ core mapping: accepted specs → core workloads (with flavor eligibility),
cycle results → QuotaReserved / WorkloadPending / PreemptionRequested, admissions round-tripping Postgres."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from libs.events import PodSet, Resources, Tenant, WorkloadSpec
from libs.events.workload import Toleration
from libs.quota import QuotaEngine, Reason, Why
from libs.quota.loader import load_config
from services.quota.mapping import admission_from_json, admission_to_json, assignments_of, workload_of, words
from services.quota.publish import announce_pending, publish
from services.quota.state import Known
from services.scheduler.adapters import workload_of as scheduler_view

FLAVORS = """
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: a100}
spec: {nodeLabels: {batchyard.dev/cluster: onprem, batchyard.dev/pool: a100, batchyard.dev/gpu-model: A100}}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: h100}
spec: {nodeLabels: {batchyard.dev/cluster: aws, batchyard.dev/pool: h100, batchyard.dev/gpu-model: H100}}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: cpu}
spec: {nodeLabels: {batchyard.dev/cluster: onprem, batchyard.dev/pool: cpu}}
"""


def queue(name: str, team: str, cohort: str, gpus: int, preemption: str = "") -> str:
    return f"""
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {{name: {name}}}
spec:
  cohort: {cohort}
  {preemption}
  resourceGroups:
    - coveredResources: [cpu, memory, nvidia.com/gpu]
      flavors:
        - name: a100
          resources: [{{name: cpu, nominalQuota: 100}}, {{name: memory, nominalQuota: 1Ti}}, {{name: nvidia.com/gpu, nominalQuota: {gpus}}}]
        - name: h100
          resources: [{{name: cpu, nominalQuota: 100}}, {{name: memory, nominalQuota: 1Ti}}, {{name: nvidia.com/gpu, nominalQuota: {gpus}}}]
        - name: cpu
          resources: [{{name: cpu, nominalQuota: 100}}, {{name: memory, nominalQuota: 1Ti}}, {{name: nvidia.com/gpu, nominalQuota: 0}}]
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {{name: default, namespace: {team}}}
spec: {{clusterQueue: {name}}}
"""


CONFIG = load_config(FLAVORS + queue("cq-a", "team-a", "org", 8) + queue("cq-b", "team-b", "org", 8,
                     "preemption: {reclaimWithinCohort: Any}"))


def spec(name: str, gpus: int = 0, model: str | None = None, pods: int = 1) -> WorkloadSpec:
    return WorkloadSpec(name=name, queue="default", pod_sets=(PodSet(
        name="main", count=pods, gpu_model=model, requests=Resources(cpu_milli=1000, memory_mib=1024, gpu=gpus)),))


@dataclass
class FakeUow:
    """Collects emitted events (the real one writes them to the outbox)."""

    emitted: list = field(default_factory=list)

    async def emit(self, event, topic=None, trace=None):
        self.emitted.append(event)
        return event


@dataclass
class Harness:
    """An engine fed like the service feeds it, with events collected."""

    config: object = CONFIG
    engine: QuotaEngine = None
    known: dict = field(default_factory=dict)
    uow: FakeUow = field(default_factory=FakeUow)
    whys: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = QuotaEngine(self.config)

    def accept(self, wid: str, team: str, s: WorkloadSpec, priority: int = 0, at: float = 0.0) -> "Harness":
        self.known[wid] = Known(Tenant(org="org", team=team), s, priority, {}, (), at)
        self.engine.add_workload(workload_of(wid, team, s, priority, at, self.config), at)
        return self

    def cycle(self, now: float = 1.0) -> list:
        self.uow.emitted.clear()
        for _ in range(100):
            result = self.engine.run_cycle(now)
            asyncio.run(publish(result, self.engine, self.known, self.uow, now, self.whys))
            if not (result.admitted or any(p.step_aside for p in result.pending)):
                break
        return self.uow.emitted

    def types(self) -> list[tuple[str, str]]:
        return [(e.type, e.workload_id) for e in self.uow.emitted]


@pytest.mark.parametrize("s, flavor", [
    pytest.param(spec("cpu-only"), "cpu", id="cpu-only-pods-skip-gpu-flavors"),
    pytest.param(spec("any-gpu", gpus=1), "a100", id="gpu-pods-take-the-first-gpu-flavor"),
    pytest.param(spec("h100-only", gpus=1, model="H100"), "h100", id="gpu-model-rules-out-other-flavors"),
])
def test_accepted_workload_is_reserved_on_an_eligible_flavor(s, flavor):
    h = Harness().accept("w", "team-a", s)
    [reserved] = h.cycle()
    assert reserved.type == "QuotaReserved" and reserved.cluster_queue == "cq-a"
    [assignment] = reserved.flavors
    assert assignment.flavor == flavor and assignment.pod_set == "main"
    assert assignment.clusters == (CONFIG.flavors[flavor].node_labels["batchyard.dev/cluster"],)
    assert assignment.pools == (CONFIG.flavors[flavor].node_labels["batchyard.dev/pool"],)


def test_a_flavor_the_scheduler_says_never_fits_is_skipped():
    wl = workload_of("w", "team-a", spec("w", gpus=1), 0, 0.0, CONFIG, excluded=("a100",))
    assert wl.pod_sets[0].excluded_flavors == {"a100", "cpu"}  # the never-fit flavor, and flavors with no GPU model
    h = Harness()
    h.known["w"] = Known(Tenant(org="org", team="team-a"), spec("w", gpus=1), 0, {}, ("a100",), 0.0)
    h.engine.add_workload(wl, 0.0)
    [reserved] = h.cycle()
    assert reserved.flavors[0].flavor == "h100"


def test_unknown_local_queue_waits_with_a_reason_in_words():
    h = Harness()
    why = h.engine.add_workload(workload_of("w", "team-x", spec("w"), 0, 0.0, CONFIG), 0.0)
    assert why.reason is Reason.LOCAL_QUEUE_NOT_FOUND and "team-x/default" in why.message


def test_borrowing_then_reclaim_requests_preemption_with_kueue_reason():
    h = Harness()
    for i in range(4):  # team-a fills its 8 a100 GPUs, then borrows team-b's 8 (whenCanBorrow: Borrow)
        h.accept(f"a{i}", "team-a", spec(f"a{i}", gpus=4, model="A100"), at=float(i))
    assert [t for t, _ in h.types() if t] == [] and len(h.cycle()) == 4
    assert all(e.type == "QuotaReserved" for e in h.uow.emitted)
    h.accept("b0", "team-b", spec("b0", gpus=8, model="A100"), at=10.0)  # reclaims its a100
    events = h.cycle(now=20.0)
    preemptions = [e for e in events if e.type == "PreemptionRequested"]
    assert preemptions and {e.reason for e in preemptions} == {"InCohortReclamation"}
    assert all(e.preemptor == "b0" for e in preemptions)
    assert h.whys["b0"].reason is Reason.WAITING_FOR_PREEMPTION


def test_pending_is_announced_once_per_reason():
    h = Harness().accept("big", "team-a", spec("big", gpus=64))
    h.cycle()
    told: dict = {}
    for _ in range(2):
        asyncio.run(announce_pending(h.engine, h.known, h.uow, 1.0, "big", h.whys["big"], told))
    pending = [e for e in h.uow.emitted if e.type == "WorkloadPending"]
    assert len(pending) == 1 and pending[0].position == 1 and pending[0].cluster_queue == "cq-a"


def test_admission_round_trips_through_json():
    h = Harness().accept("w", "team-a", spec("w", gpus=2, pods=2))
    h.cycle()
    admission = h.engine.reservations["w"].admission
    back = admission_from_json(admission_to_json(admission))
    assert back.usage() == admission.usage() and back.node_labels == admission.node_labels
    assert assignments_of(back, spec("w", gpus=2, pods=2)) == assignments_of(admission, spec("w", gpus=2, pods=2))


SPOT = """
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: spot}
spec:
  nodeLabels: {batchyard.dev/cluster: aws, batchyard.dev/pool: spot, batchyard.dev/gpu-model: A100, zone: a}
  nodeTaints: [{key: batchyard.dev/spot, value: "true", effect: NoSchedule}]
"""


def spot_first() -> object:
    return load_config(FLAVORS + SPOT + queue("cq-a", "team-a", "org", 8).replace(
        "      flavors:\n", "      flavors:\n        - name: spot\n          resources: "
        "[{name: cpu, nominalQuota: 100}, {name: memory, nominalQuota: 1Ti}, {name: nvidia.com/gpu, nominalQuota: 8}]\n"))


@pytest.mark.parametrize("tolerations, selector, flavor", [
    pytest.param((), {}, "a100", id="untolerated-taint-skips-the-flavor"),
    pytest.param((Toleration(key="batchyard.dev/spot", value="true", effect="NoSchedule"),), {}, "spot",
                 id="toleration-admits-the-tainted-flavor"),
    pytest.param((Toleration(key="batchyard.dev/spot"),), {"zone": "b"}, "a100",
                 id="node-selector-on-a-flavor-label-rules-it-out"),
    pytest.param((Toleration(key="batchyard.dev/spot"),), {"rack": "r1"}, "spot",
                 id="node-selector-on-a-label-no-flavor-has-is-left-to-the-scheduler"),
])
def test_taints_tolerations_and_node_selectors_decide_the_flavor(tolerations, selector, flavor):
    s = WorkloadSpec(name="w", queue="default", pod_sets=(PodSet(
        name="main", count=1, tolerations=tolerations, node_selector=selector,
        requests=Resources(cpu_milli=1000, memory_mib=1024, gpu=1)),))
    h = Harness(config=spot_first()).accept("w", "team-a", s)
    [reserved] = h.cycle()
    assert reserved.flavors[0].flavor == flavor


def test_partial_admission_reserves_fewer_pods_and_says_so():
    """Six pods of 4 GPUs (min 2) do not fit a100's 8 GPUs plus the 8 cq-b lends: four pods are reserved,
    and QuotaReserved carries count 4 so placement never places more than quota holds."""
    s = WorkloadSpec(name="w", queue="default", pod_sets=(PodSet(
        name="main", count=6, min_count=2, gpu_model="A100", requests=Resources(cpu_milli=1000, gpu=4)),))
    h = Harness().accept("w", "team-a", s)
    [reserved] = h.cycle()
    assert (reserved.spec.pod_sets[0].count, reserved.spec.pod_sets[0].min_count) == (4, 2)
    placing = scheduler_view(reserved).pod_sets[0]  # what the scheduler hands to libs/placement
    assert (placing.count, placing.min_count) == (4, 2)
    admission = h.engine.reservations["w"].admission
    assert admission.pod_sets[0].count == 4 and admission.usage()[("a100", "nvidia.com/gpu")] == 16
    assert admission_from_json(admission_to_json(admission)) == admission


def test_backoff_times_are_clock_times():
    assert words(Why(Reason.BACKOFF, "retry after t=0"), 0.0) == "retry after 00:00:00 UTC"
    assert words(Why(Reason.BACKOFF, f"until t={1_767_225_617.25:.15g} (x)"), 0.0) == "until 00:00:17 UTC (x)"


def test_a_reservation_not_placed_in_time_is_released_and_requeued_with_backoff():
    ready = """
---
apiVersion: config.kueue.x-k8s.io/v1beta1
kind: Configuration
waitForPodsReady: {enable: true, timeout: 60s, requeuingStrategy: {backoffBaseSeconds: 10}}
"""
    h = Harness(config=load_config(FLAVORS + queue("cq-a", "team-a", "org", 8) + ready)).accept("w", "team-a", spec("w"))
    assert [e.type for e in h.cycle(now=1.0)] == ["QuotaReserved"]
    h.engine.mark_placed("other")  # unknown: no effect
    events = h.cycle(now=100.0)
    assert [(e.type, getattr(e, "reason", None)) for e in events][0] == ("QuotaReleased", "PodsReadyTimeout")
    assert h.engine.where("w") == "pending"
    assert h.engine.pending_info("w", 100.0).reason is Reason.BACKOFF


def test_quota_joins_its_group_as_one_static_member() -> None:
    from libs.platform.settings import Settings
    from services.quota.app import DEFINITION

    settings = Settings(topic_namespace="ns").for_service("quota")
    # leader and standbys share the instance id, as the scheduler's: a new leader takes over at once
    assert DEFINITION.group_instance_id(settings) == "ns.batchyard.quota.leader"
