"""The quota service on the Kueue-semantics core, end to end on real Kafka, Postgres and the sim fleet:
borrowing across a cohort and reclaim, a bad config refused by the CLI, hot reload keeping reservations,
and a SIGKILLed quota service rebuilding its usage from Postgres."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from typer.testing import CliRunner

from libs.events import PodSet, Resources, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from services.admission.signing import demo_signer

from tests.support.platforms import simulated_platform

pytestmark = pytest.mark.integration
LONG = 5 * 24 * 3600  # simulated seconds: minutes of wall time at 1800x, so reservations stay held

FLAVOR = """apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: a100-onprem}
spec: {nodeLabels: {batchyard.dev/cluster: onprem-dc1, batchyard.dev/pool: a100, batchyard.dev/gpu-model: A100}}
---
apiVersion: config.kueue.x-k8s.io/v1beta1
kind: Configuration
waitForPodsReady: {enable: false, requeuingStrategy: {backoffBaseSeconds: 1, backoffMaxSeconds: 5}}
"""


def cluster_queue(team: str, gpus: int) -> str:
    return f"""---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {{name: {team}-cq}}
spec:
  cohort: acme
  preemption: {{reclaimWithinCohort: Any}}
  resourceGroups:
    - coveredResources: [cpu, memory, nvidia.com/gpu]
      flavors:
        - name: a100-onprem
          resources: [{{name: cpu, nominalQuota: 1000}}, {{name: memory, nominalQuota: 10Ti}}, {{name: nvidia.com/gpu, nominalQuota: {gpus}}}]
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {{name: default, namespace: {team}}}
spec: {{clusterQueue: {team}-cq}}
"""


def config(vision_gpus: int, nlp_gpus: int) -> str:
    return FLAVOR + cluster_queue("vision", vision_gpus) + cluster_queue("nlp", nlp_gpus)


def submission(wid: str, team: str) -> WorkloadSubmitted:
    spec = WorkloadSpec(name=wid, duration_s=LONG, pod_sets=(PodSet(
        name="train", count=1, gpu_model="A100", requests=Resources(cpu_milli=8000, memory_mib=65536, gpu=8)),))
    return demo_signer()(WorkloadSubmitted(workload_id=wid, tenant=Tenant(org="acme", team=team), spec=spec,
                                           producer="test"))


def states(o: FlowObserver, *ids: str) -> list[str]:
    return [o.workloads[i].state for i in ids]


async def usage(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("select cluster_queue, count(*) as n from quota.workloads where state = 'reserved' "
                                "group by 1")
    finally:
        await conn.close()
    return {r["cluster_queue"]: r["n"] for r in rows}


async def cli(database_url: str, *args: str):
    """Runs ``batchyard queues ...`` (in a thread: the command runs its own event loop)."""
    from cli.queues import app
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"BATCHYARD_DATABASE_URL": database_url})


@pytest.fixture
async def quota_platform(kafka_bootstrap, database_url, namespace, tmp_path):
    """All services, with quota on a two-team cohort: vision 16 GPUs, nlp 16 GPUs of a100, reclaim allowed."""
    async with simulated_platform(kafka_bootstrap, database_url, namespace, tmp_path, config(16, 16)) as p:
        yield p


async def test_borrow_reclaim_reload_and_restart_keep_quota_right(quota_platform, kafka_bootstrap, namespace,
                                                                  database_url, tmp_path):
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    vision = [f"v{i}" for i in range(4)]
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        # 1. vision takes its 16 GPUs and borrows nlp's idle 16 across the cohort: 4 x 8 GPUs all placed.
        await pub.publish([submission(w, "vision") for w in vision])
        assert await observer.wait_for(lambda o: states(o, *vision).count("running") == 4, timeout=120), \
            f"{states(observer, *vision)}\n{quota_platform.logs()}"
        assert await usage(database_url) == {"vision-cq": 4}

        # 2. nlp reclaims its quota: two vision borrowers are preempted (InCohortReclamation), evicted by
        #    the fleet, requeued with backoff; nlp's two workloads get the quota and run.
        await pub.publish([submission(w, "nlp") for w in ("n0", "n1")])
        assert await observer.wait_for(lambda o: states(o, "n0", "n1") == ["running", "running"], timeout=120), \
            f"{states(observer, 'n0', 'n1', *vision)}\n{quota_platform.logs()}"
    assert observer.counts["PreemptionRequested"] >= 2
    assert await observer.wait_for(lambda o: states(o, *vision).count("pending") == 2, timeout=60)
    assert await usage(database_url) == {"vision-cq": 2, "nlp-cq": 2}
    waiting = [w for w in vision if observer.workloads[w].state == "pending"]
    why = await cli(database_url, "why", waiting[0])
    assert why.exit_code == 0 and "pending" in why.output and "vision-cq" in why.output, why.output

    # 3. A bad file is refused whole, saying what is wrong; nothing changes.
    bad = tmp_path / "bad.yaml"
    bad.write_text(config(16, 16).replace("clusterQueue: nlp-cq", "clusterQueue: nope-cq"))
    refused = await cli(database_url, "apply", str(bad))
    assert refused.exit_code == 2 and "nope-cq" in refused.output and "nothing applied" in refused.output

    # 4. Hot reload: vision's nominal grows to 32; the running service admits the two waiting vision
    #    workloads and every existing reservation stays (nothing released).
    released_before = observer.counts["QuotaReleased"]
    good = tmp_path / "bigger.yaml"
    good.write_text(config(32, 16))
    applied = await cli(database_url, "apply", str(good))
    assert applied.exit_code == 0 and "version 2" in applied.output, applied.output
    assert await observer.wait_for(lambda o: states(o, *vision).count("running") == 4, timeout=60), \
        f"{states(observer, *vision)}\n{quota_platform.logs()}"
    assert observer.counts["QuotaReleased"] == released_before
    assert await usage(database_url) == {"vision-cq": 4, "nlp-cq": 2}

    # 5. SIGKILL quota: on restart it rebuilds usage from Postgres, so nlp (16 of 16 GPUs in use, the cohort
    #    full) must wait for a third workload rather than be admitted against forgotten usage.
    quota_platform.services["quota"].kill()
    await asyncio.sleep(0.5)
    quota_platform.services["quota"].start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([submission("n2", "nlp")])
    assert await observer.wait_for(lambda o: o.workloads["n2"].state == "pending", timeout=60), \
        f"{states(observer, 'n2')}\n{quota_platform.logs()}"
    assert await usage(database_url) == {"vision-cq": 4, "nlp-cq": 2}
    listing = await cli(database_url, "list")
    assert listing.exit_code == 0 and "vision-cq" in listing.output, listing.output
    pending = await cli(database_url, "pending", "--queue", "nlp-cq")
    assert "n2" in pending.output, pending.output
    await observer.stop()
    quota_platform.assert_alive()


async def test_sigkill_mid_burst_never_admits_beyond_quota(quota_platform, kafka_bootstrap, namespace, database_url):
    """12 x 8 GPUs against a 32-GPU cohort, quota SIGKILLed mid-burst: exactly 4 run, 8 wait, none twice."""
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    burst = [f"b{i:02d}" for i in range(12)]
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([submission(w, "vision" if i % 2 else "nlp") for i, w in enumerate(burst)])
    assert await observer.wait_for(lambda o: o.counts["QuotaReserved"] >= 1, timeout=60)
    quota_platform.services["quota"].kill()
    await asyncio.sleep(0.5)
    quota_platform.services["quota"].start()
    assert await observer.wait_for(lambda o: sorted(states(o, *burst)).count("running") == 4
                                   and states(o, *burst).count("pending") == 8, timeout=90), \
        f"{states(observer, *burst)}\n{quota_platform.logs()}"
    await asyncio.sleep(2)  # a late double admission would show now
    assert sum((await usage(database_url)).values()) == 4
    # Arrival order across partitions varies: vision may borrow nlp's idle quota first, and nlp then reclaims
    # it (Kueue's reclaimWithinCohort), evicting a vision workload, which is requeued. Every reservation beyond
    # the four is such a reclaim, and every reclaim is one preemption and one eviction: nothing twice, no leak.
    evictions = observer.counts["WorkloadEvicted"]
    assert observer.counts["QuotaReserved"] == 4 + evictions, observer.counts
    # after a restart quota may ask twice to evict the same victim (the fleet evicts once): count victims
    assert len(observer.preempted) == evictions, (observer.preempted, observer.counts)
    pending = await cli(database_url, "pending")
    header, *rows = pending.output.splitlines()
    assert header.split()[:2] == ["QUEUE#POSITION", "WORKLOAD"] and len(rows) == 8, pending.output
    await observer.stop()
    quota_platform.assert_alive()
