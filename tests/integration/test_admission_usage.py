"""Team maxima count what a team holds, on real Kafka and Postgres: admitted, unfinished work counts against the
team's limits until a WorkloadSucceeded or WorkloadFailed ends it, exactly once; other teams are unaffected."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
import yaml

from libs.events import (Event, PodSet, Resources, Tenant, WorkloadEvicted, WorkloadFailed, WorkloadRunning,
                         WorkloadSpec, WorkloadSubmitted, WorkloadSucceeded)
from libs.platform import store
from libs.platform.publisher import EventPublisher
from libs.platform.service import create_app
from libs.platform.settings import Settings
from libs.platform.topics_admin import ensure_topics
from libs.platform.unit_of_work import UnitOfWork
from services.admission import repository as repo
from services.admission.app import DEFINITION, build_handlers
from services.admission.signing import demo_signer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
VISION, NLP = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp")
SIGN = demo_signer("ci@acme")
GPU_LIMIT = "team acme/vision would hold 3 GPUs with this job (2 already admitted); the per-team maximum is 2"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """The demo policy with acme/vision limited to 2 GPUs and acme/nlp to 2 workloads, admitted and unfinished."""
    document = yaml.safe_load((REPO / "deploy/admission/policy.yaml").read_text())
    document["tenants"]["acme/vision"] = {"team_limits": {"max_gpus": 2}}
    document["tenants"]["acme/nlp"]["team_limits"] = {"max_workloads": 2}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def job(workload_id: str, tenant: Tenant = VISION, gpus: int = 1) -> WorkloadSubmitted:
    pod_set = PodSet(name="main", count=1, requests=Resources(gpu=gpus))
    return SIGN(WorkloadSubmitted(workload_id=workload_id, tenant=tenant, producer="test",
                                  spec=WorkloadSpec(name="train", pod_sets=(pod_set,))))


def succeeded(workload_id: str, tenant: Tenant = VISION) -> WorkloadSucceeded:
    return WorkloadSucceeded(workload_id=workload_id, tenant=tenant, cluster="c1", producer="test")


def failed(workload_id: str, tenant: Tenant = VISION) -> WorkloadFailed:
    return WorkloadFailed(workload_id=workload_id, tenant=tenant, cluster="c1", reason="pod-failed", producer="test")


def uows(conn: asyncpg.Connection, events: list[Event]) -> list[UnitOfWork]:
    """Returns a unit of work per event on ``conn``, as the consumer hands admission's handlers."""
    return [UnitOfWork(conn=conn, producer="admission", namespace="x", cause=e) for e in events]


async def waits_on_lock(watcher: asyncpg.Connection, conn: asyncpg.Connection, task: asyncio.Task,
                        why: str) -> None:
    """Returns once ``conn``'s statement waits on a lock (seen from ``watcher``); fails if ``task`` ends first."""
    while not await watcher.fetchval("select wait_event_type = 'Lock' from pg_stat_activity where pid = $1",
                                     conn.get_server_pid()):
        assert not task.done(), why
        await asyncio.sleep(0.05)


async def usage_is_exact(conn: asyncpg.Connection) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Returns each team's sums, having checked them against a recount of the admitted, unfinished workloads."""
    held = {(r[0], r[1]): (r[2], r[3], r[4]) for r in await conn.fetch("select * from team_usage")}
    assert {k: v for k, v in held.items() if v != (0, 0, 0)} == await repo.usage_from_workloads(conn)
    return held


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batch"])
async def test_team_limits_count_earlier_admissions_in_order_and_release_once(database_url, policy, batched):
    """The per-event handlers (the fallback when a batch fails) and the batch handlers agree: inside a batch,
    earlier acceptances count against later submissions of the same team, in order."""
    pool = await store.create_pool(database_url, "admission", size=1)
    await store.migrate(pool, "admission", Path(DEFINITION.service_dir))
    handlers = build_handlers(Settings(admission_policy=str(policy)))

    async def handle(conn, events: list[Event]) -> None:
        units = uows(conn, events)
        single = {"WorkloadSubmitted": handlers.handle_workload_submitted}.get(events[0].type,
                                                                                handlers.handle_workload_ended)
        many = {"WorkloadSubmitted": handlers.handle_workload_submitted_batch}.get(events[0].type,
                                                                                  handlers.handle_workload_ended_batch)
        if batched:
            await many(events, units)
        else:
            for event, uow in zip(events, units):
                await single(event, uow)

    try:
        async with pool.acquire() as conn, conn.transaction():
            await handle(conn, [job("v-1"), job("n-1", NLP), job("v-2"), job("v-3"), job("n-2", NLP),
                                job("n-3", NLP), job("v-4", gpus=0)])
            await handle(conn, [succeeded("v-1")])
            await handle(conn, [job("v-5"), job("v-6")])
            await handle(conn, [failed("v-1"), succeeded("v-3"), succeeded("never-submitted")])
            await handle(conn, [job("v-7")])
            rows = await conn.fetch("select workload_id, reason, rule, message from audit_log order by seq")
            held = await usage_is_exact(conn)
            finished = await conn.fetch("select workload_id, finished_by from admitted_workloads "
                                        "where finished_at is not null")
    finally:
        await pool.close()
    assert [(r["workload_id"], r["rule"]) for r in rows] == [
        ("v-1", None), ("n-1", None), ("v-2", None), ("v-3", "team.max_gpus"), ("n-2", None),
        ("n-3", "team.max_workloads"), ("v-4", None),  # no GPU: within the GPU limit
        ("v-5", None), ("v-6", "team.max_gpus"),  # v-1 succeeded: one GPU back
        ("v-7", "team.max_gpus")]  # a second terminal event for v-1, and events for unadmitted ids, release nothing
    messages = {r["workload_id"]: r["message"] for r in rows}
    assert messages["v-3"] == GPU_LIMIT
    assert messages["n-3"] == "team acme/nlp already has 2 admitted workloads; the per-team maximum is 2"
    assert {r["reason"] for r in rows if r["rule"]} == {"policy_violation"}
    assert held == {("acme", "vision"): (2000, 3, 3), ("acme", "nlp"): (2000, 2, 2)}
    assert [tuple(r) for r in finished] == [("v-1", "WorkloadSucceeded")]
    assert handlers.released == 0, "counted after commit only (these handlers ran outside the consumer)"


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, namespace: str, policy: Path) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                    retry_backoff_s=0.01, admission_policy=str(policy), admission_reload_s=0)


async def wait_until(check, timeout: float = 60):
    """Polls ``check()`` (async) until it returns something truthy; returns that (fails at the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return result


async def test_a_team_at_its_limit_is_refused_until_its_work_ends_on_kafka(settings):
    pool = None

    async def verdicts(*ids: str) -> dict[str, asyncpg.Record] | None:
        rows = await pool.fetch("select workload_id, outcome, rule, message from admission.audit_log "
                                "where workload_id = any($1::text[])", list(ids))
        return {r["workload_id"]: r for r in rows} if len(rows) == len(ids) else None

    async def handled(*events: Event) -> bool:
        seen = await pool.fetchval("select count(*) from admission.processed_events where event_id = any($1::uuid[])",
                                   [e.event_id for e in events])
        return seen == len(events)

    vision = [job(f"k-{i}") for i in range(5)]
    nlp = [job("kn-1", NLP, gpus=4), job("kn-2", NLP, gpus=4)]
    await ensure_topics(settings.kafka_bootstrap, settings.topic_namespace)
    async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
        # published before admission starts, so its first polls see them together: the batch path
        await pub.publish([*vision, *nlp])
        app = create_app(settings, DEFINITION)
        async with app:
            pool = app.runtime.pool
            first = await wait_until(lambda: verdicts(*(e.workload_id for e in [*vision, *nlp])))
            admitted = sorted(w for w, r in first.items() if r["outcome"] == "accepted" and w.startswith("k-"))
            refused = [r for w, r in first.items() if w.startswith("k-") and r["outcome"] == "rejected"]
            assert len(admitted) == 2 and len(refused) == 3, "two 1-GPU jobs fill acme/vision's 2 GPUs"
            assert {r["rule"] for r in refused} == {"team.max_gpus"}
            assert {r["message"] for r in refused} == {GPU_LIMIT}
            assert first["kn-1"]["outcome"] == first["kn-2"]["outcome"] == "accepted", "another team is unaffected"
            batches = Counter(r["decided_at"] for r in await pool.fetch(
                "select decided_at from admission.audit_log where workload_id like 'k-%'"))  # one clock per batch
            assert max(batches.values()) > 1, "several of the team's submissions were decided in one batch"

            # evicted (requeued) and running workloads still hold their GPUs
            still = [WorkloadEvicted(workload_id=admitted[0], tenant=VISION, cluster="c1", reason="preempted"),
                     WorkloadRunning(workload_id=admitted[0], tenant=VISION, cluster="c1")]
            await pub.publish(still)
            await wait_until(lambda: handled(*still))
            await pub.publish([job("k-5")])
            assert (await wait_until(lambda: verdicts("k-5")))["k-5"]["rule"] == "team.max_gpus"

            # one ends: its GPU is free again
            done = succeeded(admitted[0])
            await pub.publish([done])
            await wait_until(lambda: handled(done))
            await pub.publish([job("k-6")])
            assert (await wait_until(lambda: verdicts("k-6")))["k-6"]["outcome"] == "accepted"

            # a redelivery, a second (different) terminal event and one for a never-admitted workload free nothing
            late = [failed(admitted[0]), succeeded(refused[0]["workload_id"])]
            await pub.publish([done, *late])  # done and late[0] share a key: the redelivery is handled first
            await wait_until(lambda: handled(*late))
            await pub.publish([job("k-7")])
            assert (await wait_until(lambda: verdicts("k-7")))["k-7"]["rule"] == "team.max_gpus"
            async with pool.acquire() as conn:
                held = await usage_is_exact(conn)
            released = app.runtime.service.released
    assert held == {("acme", "vision"): (2000, 2, 2), ("acme", "nlp"): (8000, 2, 2)}
    assert released == 1


async def test_two_instances_admitting_for_one_team_at_once_do_not_overshoot_its_limit(database_url, policy):
    """Submissions are keyed by workload id, so one team's land on every partition and instance: the second
    instance waits for the first's lock on the team, then reads what the first committed."""
    pool = await store.create_pool(database_url, "admission", size=2)
    await store.migrate(pool, "admission", Path(DEFINITION.service_dir))
    first, second = build_handlers(Settings(admission_policy=str(policy))), build_handlers(
        Settings(admission_policy=str(policy)))
    watcher = await asyncpg.connect(database_url)

    try:
        async with pool.acquire() as one, pool.acquire() as two:
            holding = one.transaction()
            await holding.start()
            a = [job("race-a1"), job("race-a2")]
            await first.handle_workload_submitted_batch(a, uows(one, a))  # holds acme/vision's lock, uncommitted

            async def other_instance() -> None:
                b = [job("race-b1")]
                async with two.transaction():
                    await second.handle_workload_submitted_batch(b, uows(two, b))

            task = asyncio.create_task(other_instance())
            await waits_on_lock(watcher, two, task, "the second instance should wait for the team's lock")
            await holding.commit()
            await task
            rows = {r[0]: r[1] for r in await one.fetch("select workload_id, rule from audit_log")}
            held = await usage_is_exact(one)
    finally:
        await watcher.close()
        await pool.close()
    assert rows == {"race-a1": None, "race-a2": None, "race-b1": "team.max_gpus"}
    assert held == {("acme", "vision"): (2000, 2, 2)}


async def test_a_batch_decided_before_another_instance_freed_its_team_is_decided_again(database_url, policy):
    """A batch decides against an unlocked read of its teams' usage, then locks them and reads again: if another
    instance freed GPUs meanwhile, a submission only the team rules refused is decided again and admitted."""
    pool = await store.create_pool(database_url, "admission", size=2)
    await store.migrate(pool, "admission", Path(DEFINITION.service_dir))
    first, second = (build_handlers(Settings(admission_policy=str(policy))) for _ in range(2))
    watcher = await asyncpg.connect(database_url)

    try:
        async with pool.acquire() as one, pool.acquire() as two:
            full = [job("free-1"), job("free-2")]
            async with one.transaction():
                await first.handle_workload_submitted_batch(full, uows(one, full))  # acme/vision at 2 of 2 GPUs
            holding = one.transaction()
            await holding.start()
            await first.handle_workload_ended_batch([succeeded("free-1")], uows(one, [succeeded("free-1")]))
            unsigned = [WorkloadSubmitted(workload_id="free-x", tenant=VISION, producer="test",
                                          spec=WorkloadSpec(name="train", pod_sets=(PodSet(name="main", count=1),)))]
            await first.handle_workload_submitted_batch(unsigned, uows(one, unsigned))  # takes the team's lock

            async def other_instance() -> None:
                b = [job("free-b1")]
                async with two.transaction():
                    await second.handle_workload_submitted_batch(b, uows(two, b))

            task = asyncio.create_task(other_instance())  # reads 2 of 2 GPUs held: refused, then waits
            await waits_on_lock(watcher, two, task, "the second instance should wait for the team's lock")
            await holding.commit()  # free-1 ends: 1 of 2 GPUs held
            await task
            rows = {r[0]: (r[1], r[2]) for r in await one.fetch("select workload_id, rule, reason from audit_log")}
            held = await usage_is_exact(one)
    finally:
        await watcher.close()
        await pool.close()
    assert rows["free-b1"] == (None, None), "decided again against the freed GPU and admitted"
    assert rows["free-x"][1] == "token_missing"
    assert held == {("acme", "vision"): (2000, 2, 2)}
