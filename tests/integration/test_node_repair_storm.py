"""A storm on real Kafka and Postgres: a fifth of the A100 pool fails at once on the simulated fleet.

Node repair must never have more than the budget out (read back from the transitions stream), give
running gangs their grace, and every workload must end finished, requeued-and-finished if a drain
evicted it.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict

import pytest

from libs.events import PodSet, Resources, Tenant, WorkloadSpec, WorkloadSubmitted, decode
from libs.fleet import load_fleet
from libs.localinfra.processes import Platform
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from libs.repair import limit
from services.admission.signing import demo_signer
from services.node_repair.config import load_repair_config

pytestmark = pytest.mark.integration
FLEET, POLICY = "deploy/fleet/storm.yaml", "deploy/fleet/repair-storm.yaml"
OUT = {"cordoned", "draining", "repairing"}
TEAMS = (Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp"), Tenant(org="globex", team="research"))


class RepairObserver(FlowObserver):
    """The flow observer, plus every node-repair transition and each workload's event sequence in arrival order."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.transitions: list = []
        self.history: dict[str, list[str]] = defaultdict(list)

    def _observe(self, record) -> None:
        fresh = False
        try:
            event = decode(record.value)
            fresh = event.event_id not in self.seen_ids
        except Exception:  # noqa: BLE001 - the base class counts undecodable records
            event = None
        super()._observe(record)
        if event is None or not fresh:
            return
        if event.type == "NodeRepairTransitioned":
            self.transitions.append(event)
        elif event.workload_id and event.type.startswith(("Workload", "Quota")):
            self.history[event.workload_id].append(event.type)


def last_phase(history: list[str]) -> str | None:
    """Returns the newest workload lifecycle event (quota's bookkeeping after it aside)."""
    return next((e for e in reversed(history) if e.startswith("Workload")), None)


def a100_gang(i: int, hours: float) -> WorkloadSubmitted:
    """A one-node PyTorch gang that takes a whole A100 node for ``hours`` simulated hours."""
    pod = PodSet(name="trainer", count=1, gpu_model="A100",
                 requests=Resources(cpu_milli=32000, memory_mib=262144, gpu=8))
    spec = WorkloadSpec(name=f"train-{i}", kind="pytorch", pod_sets=(pod,), duration_s=hours * 3600)
    return WorkloadSubmitted(workload_id=f"storm-{i:03d}", tenant=TEAMS[i % 3], spec=spec, producer="test")


def budget_violations(transitions, live: dict[str, int], domain_of: dict[str, str], policy) -> list[str]:
    """Replays the transitions in time order; returns every instant a pool or rack had more out than allowed."""
    s = policy.safety
    state: dict[str, str] = {}
    pool_of = {t.node_id: t.pool for t in transitions}
    racks: dict[str, int] = defaultdict(int)
    for node, rack in domain_of.items():
        racks[rack] += 1
    ordered = sorted(enumerate(transitions), key=lambda p: (p[1].occurred_at, p[0]))  # stable within an instant
    problems = []
    for k, (_, t) in enumerate(ordered):
        state[t.node_id] = t.to_state
        if k + 1 < len(ordered) and ordered[k + 1][1].occurred_at == t.occurred_at:
            continue  # check once per planning instant, after all its moves
        out = [n for n, st in state.items() if st in OUT]
        for pool, n in live.items():
            count = sum(1 for x in out if pool_of[x] == pool)
            if count > limit(n, s.pool_max_out, s.min_out):
                problems.append(f"{t.occurred_at}: pool {pool} had {count} out")
        for rack, n in racks.items():
            count = sum(1 for x in out if domain_of.get(x) == rack)
            if count > limit(n, s.domain_max_out, s.min_out):
                problems.append(f"{t.occurred_at}: rack {rack} had {count} out")
    return problems


@pytest.fixture
async def storm_platform(kafka_bootstrap, database_url, namespace, tmp_path):
    await ensure_topics(kafka_bootstrap, namespace)
    p = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env={
        "BATCHYARD_TIME_SCALE": "600", "BATCHYARD_FLEET_SPEC": FLEET, "BATCHYARD_REPAIR_CONFIG": POLICY})
    p.start()
    yield p
    p.stop()


async def test_storm_of_a_fifth_of_a_pool_stays_within_budget_and_every_workload_finishes(
        storm_platform, kafka_bootstrap, namespace):
    fleet, policy = load_fleet(FLEET), load_repair_config(POLICY)
    a100 = [e for e in fleet.node_events() if e.pool == "a100"]
    struck = int(fleet.faults.storms[0].share * len(a100))
    budget = limit(len(a100), policy.safety.pool_max_out, policy.safety.min_out)
    assert struck > budget, "the storm must exceed the pool budget for this test to mean anything"
    observer = await RepairObserver(kafka_bootstrap, namespace).start()
    # submit once the fleet is known everywhere, so the gangs run on it when the storm strikes
    assert await observer.wait_for(lambda o: o.counts["NodeInventoried"] >= fleet.node_count, timeout=60)
    await asyncio.sleep(2.0)
    sign = demo_signer()
    gangs = [sign(a100_gang(i, hours=4.0)) for i in range(20)]  # 20 of 24 nodes busy when the storm strikes
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish(gangs)

    def settled(o: RepairObserver) -> bool:
        done = all(last_phase(o.history.get(g.workload_id, [])) == "WorkloadSucceeded" for g in gangs)
        back = sum(1 for t in o.transitions if t.reason == "repair_succeeded")
        return done and back >= struck

    ok = await observer.wait_for(settled, timeout=float(os.environ.get("STORM_TIMEOUT", 300)))
    await observer.stop()
    storm_platform.assert_alive()
    histories = {g.workload_id: observer.history.get(g.workload_id, []) for g in gangs}
    summary = "\n".join(f"{k}: {v}" for k, v in histories.items())
    moves = "\n".join(f"{t.occurred_at} {t.node_id} {t.from_state}->{t.to_state} {t.reason}"
                      for t in observer.transitions)
    assert ok, f"not settled:\n{summary}\n{moves}\n{storm_platform.logs()}"

    # 1. never more than the budget out, per pool and per rack, at any instant of the transitions stream
    live = {p.name: p.nodes for p in fleet.pools}
    racks = {e.node_id: e.topology.rack for e in fleet.node_events()}
    assert budget_violations(observer.transitions, live, racks, policy) == [], moves
    # 2. the storm exceeded the budget, so some nodes waited (suspect) before going out
    cordoned = [t for t in observer.transitions if t.to_state == "cordoned"]
    assert len({t.node_id for t in cordoned}) == struck, moves
    assert len({t.occurred_at for t in cordoned}) >= 2, "the repairs beyond the budget went later"
    assert any(t.to_state == "suspect" for t in observer.transitions), "deferred nodes wait as suspect"
    assert all(t.evidence for t in cordoned) and all(t.pool == "a100" for t in cordoned)
    # 3. drains gave grace then evicted; each evicted gang was requeued, placed again and finished
    evicted = [k for k, h in histories.items() if "WorkloadEvicted" in h]
    assert evicted, f"the storm hit no running gang:\n{summary}"
    for k in evicted:
        h = histories[k]
        last = len(h) - 1 - h[::-1].index("WorkloadEvicted")
        assert "QuotaReleased" in h[last:] and "WorkloadPlaced" in h[last:], f"{k} was not requeued: {h}"
        assert last_phase(h) == "WorkloadSucceeded", f"{k}: {h}"
    assert all(last_phase(h) == "WorkloadSucceeded" for h in histories.values()), summary
    drains = [t for t in observer.transitions if t.to_state == "draining"]
    assert all(t.drain_deadline and t.drain_deadline > t.occurred_at for t in drains)
