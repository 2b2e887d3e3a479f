"""`batchyard workloads list` and `describe` on real Kafka and PostgreSQL with every service and the simulated
fleet: a finished, a refused, a pending workload waiting for quota (quota's reason and position) and one waiting for
nodes (the scheduler's reason), a running one, a cancelled one, an evicted and requeued one, and a team's token
that sees only its own workloads."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.roles import apply, database_of, roles_sql
from cli.workloads_view import describe_lines
from libs.events import PodSet, Resources, Tenant, WorkloadCancelRequested, WorkloadSpec, WorkloadSubmitted
from libs.localinfra.processes import Platform
from libs.platform.publisher import EventPublisher
from libs.readmodel import NotReady, describe_workload, list_workloads
from services.admission.signing import demo_signer
from tests.integration.test_quota_service import FLAVOR
from tests.integration.test_read_scoping import as_role
from tests.support.platforms import simulated_platform

pytestmark = pytest.mark.integration
LONG = 5 * 24 * 3600  # simulated seconds: minutes of wall time at 1800x, so it runs until cancelled
VISION, NLP, GLOBEX = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp"), Tenant(org="globex",
                                                                                                  team="research")
SIGNER = demo_signer("ci@test")
PREFIX = "wl_"


def cluster_queue(name: str, team: str, gpus: int, cohort: str | None) -> str:
    cohort_line = f"  cohort: {cohort}\n  preemption: {{reclaimWithinCohort: Any}}\n" if cohort else ""
    return f"""---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {{name: {name}}}
spec:
{cohort_line}  resourceGroups:
    - coveredResources: [cpu, memory, nvidia.com/gpu]
      flavors:
        - name: a100-onprem
          resources:
            - {{name: cpu, nominalQuota: 1000}}
            - {{name: memory, nominalQuota: 10Ti}}
            - {{name: nvidia.com/gpu, nominalQuota: {gpus}}}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {{name: default, namespace: {team}}}
spec: {{clusterQueue: {name}}}
"""


# The fleet's 24 A100 nodes of 8 GPUs: globex 8 GPUs of its own; acme's cohort nlp 184 and vision 8 (all the rest).
QUOTA = (FLAVOR + cluster_queue("globex-cq", "research", 8, None) + cluster_queue("nlp-cq", "nlp", 184, "acme")
         + cluster_queue("vision-cq", "vision", 8, "acme"))


def submission(wid: str, tenant: Tenant, pods: int = 1, duration_s: float = LONG,
               privileged: bool = False) -> WorkloadSubmitted:
    spec = WorkloadSpec(name=f"job-{wid}", kind="pytorch", duration_s=duration_s, pod_sets=(PodSet(
        name="train", count=pods, gpu_model="A100", privileged=privileged,
        requests=Resources(cpu_milli=8000, memory_mib=65536, gpu=8)),))
    return SIGNER(WorkloadSubmitted(workload_id=wid, tenant=tenant, spec=spec, producer="test"))


def cancel(wid: str, tenant: Tenant) -> WorkloadCancelRequested:
    return WorkloadCancelRequested(workload_id=wid, tenant=tenant, reason="wrong data", producer="test",
                                   token=SIGNER.token(tenant.org, tenant.team))


@pytest.fixture
async def platform(kafka_bootstrap, database_url, namespace, tmp_path):
    async with simulated_platform(kafka_bootstrap, database_url, namespace, tmp_path, QUOTA) as p:
        yield p


async def cli(database_url: str, *args: str, token: str | None = None):
    """Runs ``batchyard ARGS`` as a user would (in a thread: the command runs its own event loop)."""
    env = {"BATCHYARD_DATABASE_URL": database_url, "BATCHYARD_TOKEN": token or ""}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def until(database_url: str, check, timeout: float, platform: Platform):
    """Polls ``check(detail_of)`` until it is true; ``detail_of(id)`` is describe's record (None: unknown)."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        async def detail_of(wid: str):
            try:
                return await describe_workload(conn, wid)
            except NotReady:  # the services are still starting
                return None
        while time.monotonic() < deadline:
            if await check(detail_of):
                return
            await asyncio.sleep(0.5)
        seen = [line for w in await list_workloads(conn)
                for line in describe_lines(await describe_workload(conn, w.workload_id))]
    finally:
        await conn.close()
    raise AssertionError(f"condition not met in {timeout} s:\n" + "\n".join(seen) + f"\n{platform.logs()}")


def state(*expected: str):
    """Returns a check that each (id, state) pair holds, e.g. state("g1=running", "g2=pending")."""
    async def check(detail_of) -> bool:
        for pair in expected:
            wid, want = pair.split("=")
            d = await detail_of(wid)
            if d is None or (d.summary.state if "(" not in want else
                             f"{d.summary.state}({d.summary.outcome})") != want:
                return False
        return True
    return check


def rows(listing: str) -> dict[str, list[str]]:
    """Returns the listed workloads by id: their cells (the header row checked)."""
    header, *lines = listing.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "KIND"], listing
    return {line.split()[0]: line.split() for line in lines}


async def test_list_and_describe_through_a_workloads_life(platform, kafka_bootstrap, namespace, database_url):
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        # 1. g0 runs a minute (simulated) and succeeds; r1 asks for a privileged pod and is refused.
        await pub.publish([submission("g0", GLOBEX, duration_s=60), submission("r1", VISION, privileged=True)])
        await until(database_url, state("g0=finished(succeeded)", "r1=refused"), 120, platform)
        # 2. g1 holds globex's 8 GPUs, g2 waits for quota behind it; nlp's b1, b2 and big take the other 23 nodes
        #    (admission allows 64 GPUs a job), so v1 (within vision's own quota) is reserved but waits for nodes.
        await pub.publish([submission("g1", GLOBEX), submission("b1", NLP, pods=8), submission("b2", NLP, pods=8),
                           submission("big", NLP, pods=7)])
        await until(database_url, state("g1=running", "b1=running", "b2=running", "big=running"), 120, platform)
        await pub.publish([submission("g2", GLOBEX), submission("v1", VISION)])

        async def v1_waits_for_nodes(detail_of) -> bool:
            d = await detail_of("v1")
            return d is not None and d.waiting is not None and d.waiting.source == "scheduler" and \
                d.waiting.reason != "Queued"
        await until(database_url, v1_waits_for_nodes, 120, platform)
        await until(database_url, state("g2=pending"), 60, platform)

        listing = await cli(database_url, "workloads", "list")
        assert listing.exit_code == 0, listing.output
        listed = rows(listing.output)
        assert set(listed) == {"g0", "r1", "g1", "b1", "b2", "big", "g2", "v1"}
        assert listed["g2"][:9] == ["g2", "job-g2", "pytorch", "globex/research", "globex-cq", "pending", "0", "-",
                                    "1"]
        assert listed["v1"][5] == "pending" and listed["v1"][7] == "a100-onprem" and listed["v1"][8] == "-"
        assert listed["g1"][5:8] == ["running", "0", "a100-onprem/onprem-dc1"]
        assert listed["g0"][5:7] == ["finished", "(succeeded)"] and listed["r1"][5] == "refused"
        pending = rows((await cli(database_url, "workloads", "list", "--state", "pending")).output)
        assert set(pending) == {"g2", "v1"}
        nlp = rows((await cli(database_url, "workloads", "list", "--team", "nlp", "--org", "acme")).output)
        assert set(nlp) == {"b1", "b2", "big"}
        by_queue = rows((await cli(database_url, "workloads", "list", "--queue", "globex-cq")).output)
        assert set(by_queue) == {"g0", "g1", "g2"}

        g2 = (await cli(database_url, "workloads", "describe", "g2")).output
        assert "waiting (quota, 1st in globex-cq)" in g2 and "globex-cq" in g2, g2
        v1 = await cli(database_url, "workloads", "describe", "v1")
        assert v1.exit_code == 0, v1.output
        assert "waiting (scheduler): InsufficientGpu: " in v1.output and "0/84 nodes: " in v1.output, v1.output
        assert "quota reserved in cluster queue vision-cq; flavors: train=a100-onprem" in v1.output
        r1 = (await cli(database_url, "workloads", "describe", "r1")).output
        assert "refused by admission: " in r1 and "pod.privileged" in r1 and "quota has not seen" not in r1, r1
        r1_trace = next(line for line in r1.splitlines() if line.startswith("trace: "))
        assert len(r1_trace.split()[1]) == 32, r1  # admission's audit row keeps the refused submission's trace
        g0 = (await cli(database_url, "workloads", "describe", "g0")).output
        assert "state: finished (succeeded)" in g0 and "succeeded on onprem-dc1" in g0 and "placed on onprem-dc1: 1 " \
            "node(s)" in g0, g0
        trace = next(line for line in g0.splitlines() if line.startswith("trace: "))
        assert len(trace.split()[1]) == 32, g0

        # 3. big is cancelled while it runs: its nodes go to v1.
        await pub.publish([cancel("big", NLP)])
        await until(database_url, state("big=finished(cancelled)", "v1=running"), 120, platform)
        big = (await cli(database_url, "workloads", "describe", "big")).output
        assert "cancel requested by ci@test" in big and "failed on onprem-dc1 (cancelled)" in big, big

        # 4. v2 borrows nlp's idle quota and runs; nlp's n2 (56 GPUs, 48 not lent) reclaims it: v2 is evicted and
        #    requeued, and waits (the cohort's 192 GPUs are all vision's and nlp's own again).
        await pub.publish([submission("v2", VISION)])
        await until(database_url, state("v2=running"), 120, platform)
        await pub.publish([submission("n2", NLP, pods=7)])

        async def v2_requeued(detail_of) -> bool:
            d = await detail_of("v2")
            return d is not None and d.summary.attempts == 1 and d.waiting is not None and d.waiting.source == "quota"
        await until(database_url, v2_requeued, 120, platform)
    v2 = (await cli(database_url, "workloads", "describe", "v2")).output
    assert "1 eviction(s) so far" in v2 and "evicted from onprem-dc1 (preempted); quota requeues it" in v2, v2
    steps = [line.split()[3] for line in v2.splitlines() if line.startswith("  ")]
    assert steps[:4] == ["accepted", "placed", "running", "evicted"], v2
    assert "quota preemption (InCohortReclamation): n2 in nlp-cq" in v2, v2

    # 5. vision's token: only vision's workloads, through the token reader and row-level security.
    await apply(database_url, roles_sql(database_of(database_url), prefix=PREFIX,
                                        tenants=("acme/vision", "acme/nlp", "globex/research")))
    reader, token = as_role(database_url, f"{PREFIX}reader"), demo_signer("alice@acme").token("acme", "vision")
    mine = await cli(reader, "workloads", "list", token=token)
    assert mine.exit_code == 0 and set(rows(mine.output)) == {"r1", "v1", "v2"}, mine.output
    theirs = await cli(reader, "workloads", "describe", "g1", token=token)
    assert theirs.exit_code == 1 and "no such workload 'g1'" in theirs.output
    own = await cli(reader, "workloads", "describe", "v2", token=token)
    assert own.exit_code == 0 and "evicted from onprem-dc1" in own.output, own.output
    unknown = await cli(database_url, "workloads", "describe", "nosuch")
    assert unknown.exit_code == 1 and "no such workload 'nosuch'" in unknown.output
    platform.assert_alive()
