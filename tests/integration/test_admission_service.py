"""The admission service on real Kafka and Postgres: identity, policy, replay, audit, key rotation."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
import yaml

from libs.admission import SigningKey
from libs.admission.codec import b64encode
from libs.admission.token import new_ed25519_seed
from libs.events import PodSet, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.settings import Settings
from services.admission.app import DEFINITION
from services.admission.keyring import KeyEntry
from services.admission.signing import DEMO_KEYRING, TokenSigner, demo_signer
from libs.platform.service import create_app

pytestmark = pytest.mark.integration
VISION, NLP = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp")


def job(workload_id: str, tenant: Tenant = VISION, **spec) -> WorkloadSubmitted:
    pod_set = spec.pop("pod_set", {})
    body = WorkloadSpec(name="job", pod_sets=(PodSet(name="main", count=1, **pod_set),), **spec)
    return WorkloadSubmitted(workload_id=workload_id, tenant=tenant, spec=body, producer="test")


def signed(event: WorkloadSubmitted, token: str | None) -> WorkloadSubmitted:
    return event.model_copy(update={"token": token})


def key_entry(kid: str, private: bytes, org: str | None, team: str | None = None) -> KeyEntry:
    return KeyEntry(key=SigningKey.ed25519(kid, private, org=org, team=team), queues=("default",))


def demo_key(kid: str, **scope) -> KeyEntry:
    [entry] = [e for e in demo_signer().entries if e.key.kid == kid]
    scope = {"org": None, "team": None, **scope}  # the scope the signer believes; admission knows the real one
    return KeyEntry(key=dataclasses.replace(entry.key, retired_at=None, **scope), queues=entry.queues)


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, namespace: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_namespace=namespace,
                    retry_backoff_s=0.01, admission_reload_s=0)


async def audit_rows(pool: asyncpg.Pool) -> dict[str, list[asyncpg.Record]]:
    rows = await pool.fetch("select * from admission.audit_log order by seq")
    by_workload: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_workload.setdefault(row["workload_id"], []).append(row)
    return by_workload


async def wait_for_decisions(pool: asyncpg.Pool, count: int, timeout: float = 60) -> dict[str, list]:
    """Returns the audit rows by workload once ``count`` decisions are recorded (or at the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await audit_rows(pool)
        if sum(map(len, rows.values())) >= count or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.2)


def refusals(signer: TokenSigner) -> dict[str, tuple[WorkloadSubmitted, str, str | None]]:
    """Returns submissions admission must refuse: workload id -> (submission, reason code, rule)."""
    now = datetime.now(timezone.utc)
    stale = TokenSigner(signer.entries, subject="ci@acme", clock=lambda: now - timedelta(hours=2))
    forged = TokenSigner([key_entry("demo-acme-vision-2026", secrets.token_bytes(32), "acme", "vision")], subject="x")
    unknown = TokenSigner([key_entry("made-up-key", secrets.token_bytes(32), None)], subject="x")
    retired = TokenSigner([demo_key("demo-acme-vision-2025", org="acme", team="vision")], subject="old")
    # the vision team key, told (client side) it may sign for nlp: admission knows its real scope
    stretched = TokenSigner([demo_key("demo-acme-vision-2026", org="acme")], subject="vision-ci")
    cases = {
        "r-unsigned": (signed(job("r-unsigned"), None), "token_missing", None),
        "r-alg-none": (signed(job("r-alg-none"), signer.token("acme", "vision").rsplit(".", 1)[0] + "."),
                       "token_unsigned", None),
        "r-expired": (signed(job("r-expired"), stale.token("acme", "vision")), "token_expired", None),
        "r-forged": (signed(job("r-forged"), forged.token("acme", "vision")), "token_bad_signature", None),
        "r-unknown-key": (signed(job("r-unknown-key"), unknown.token("acme", "vision")), "token_unknown_key", None),
        "r-retired": (signed(job("r-retired"), retired.token("acme", "vision")), "token_key_retired", None),
        "r-cross-tenant": (signed(job("r-cross-tenant", NLP), stretched.token("acme", "nlp")), "token_key_scope",
                           None),
        "r-tenant-mismatch": (signed(job("r-tenant-mismatch", NLP), signer.token("acme", "vision")),
                              "tenant_mismatch", None),
        "r-queue": (signer(job("r-queue", queue="gpu")), "queue_not_allowed", None),
        "r-privileged": (signer(job("r-privileged", pod_set={"privileged": True})), "policy_violation",
                         "pod.privileged"),
        "r-priority": (signer(job("r-priority", priority_class="platinum")), "policy_violation", "priority.allowed"),
        "r-registry": (signer(job("r-registry", pod_set={"image": "evil.example.com/miner:1"})), "policy_violation",
                       "image.registry"),
        "r-garbage-token": (signed(job("r-garbage-token"), "not a token"), "token_malformed", None),
    }
    return cases


async def test_every_refusal_has_its_reason_code_and_rule_and_every_decision_is_audited(settings):
    signer = demo_signer("ci@acme")
    cases = refusals(signer)
    token = signer.token("acme", "vision")
    good = [signer(job("a-ok")), signer(job("a-nlp", NLP)), signer(job("a-dup")),
            signed(job("a-replay-1"), token), signed(job("a-replay-2"), token)]
    duplicate = signer(job("a-dup", priority_class="high"))  # same workload id, fresh token: refused
    app = create_app(settings, DEFINITION)
    async with app:
        observer = await FlowObserver(settings.kafka_bootstrap, settings.topic_namespace).start()
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([*good, *(c[0] for c in cases.values())])
            await pub.publish([duplicate])
        rows = await wait_for_decisions(app.runtime.pool, len(good) + len(cases) + 1)
        assert await observer.wait_for(lambda o: sum(o.counts[t] for t in ("WorkloadAccepted", "WorkloadRejected"))
                                       >= len(good) + len(cases) + 1, timeout=30)
        await observer.stop()
    for workload_id, (_, reason, rule) in cases.items():
        [row] = rows[workload_id]
        assert (row["outcome"], row["reason"], row["rule"]) == ("rejected", reason, rule), workload_id
        assert observer.workloads[workload_id].state == "rejected"
    assert all(len(observer.workloads[w].trace_ids) == 1 for w in (*cases, "a-ok", "a-nlp")), \
        "each verdict continues its submission's trace (batched handling included)"
    for workload_id in ("a-ok", "a-nlp"):
        [row] = rows[workload_id]
        assert (row["outcome"], row["subject"], row["queue"], row["priority_class"]) == \
               ("accepted", "ci@acme", "default", "normal")
        assert row["key_id"] == ("demo-acme-vision-2026" if workload_id == "a-ok" else "demo-acme-nlp-2026")
        assert "pod_sets.main.resources.cpu_milli" in row["defaulted"]
    # one token, two different submissions: exactly one is admitted (partitions race), the other is a replay
    replay = sorted((rows["a-replay-1"][0]["reason"], rows["a-replay-2"][0]["reason"]), key=str)
    assert replay == [None, "token_replayed"] or replay == ["token_replayed", None]
    assert [(r["outcome"], r["reason"]) for r in rows["a-dup"]] == [("accepted", None),
                                                                     ("rejected", "workload_duplicate")]
    assert rows["r-privileged"][0]["message"].startswith("pod set main")
    # the CLI's view: batchyard audit list --org acme --team vision --rejected
    from cli.audit import fetch_decisions, format_row
    listed = await fetch_decisions(database_url=settings.database_url, org="acme", team="vision", rejected=True,
                                   limit=100)
    assert {r["outcome"] for r in listed} == {"rejected"} and "r-privileged" in {r["workload_id"] for r in listed}
    assert "r-cross-tenant" not in {r["workload_id"] for r in listed}, "that one claims acme/nlp"
    line = format_row(next(r for r in listed if r["workload_id"] == "r-privileged"))
    assert "REJECTED policy_violation [pod.privileged]" in line and "by ci@acme" in line


async def test_a_redelivered_submission_is_decided_once(settings):
    event = demo_signer()(job("once-1"))
    app = create_app(settings, DEFINITION)
    async with app:
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([event, event, event, demo_signer()(job("once-2"))])
        rows = await wait_for_decisions(app.runtime.pool, 2)
        await asyncio.sleep(1.0)  # give a wrong second decision the chance to show up
        rows = await audit_rows(app.runtime.pool)
        claims = await app.runtime.pool.fetchval("select count(*) from admission.token_claims")
    assert [r["outcome"] for r in rows["once-1"]] == ["accepted"]
    assert [r["outcome"] for r in rows["once-2"]] == ["accepted"] and claims == 2


async def test_keys_rotate_without_a_restart(settings, tmp_path: Path):
    keyring = tmp_path / "keyring.yaml"
    document = yaml.safe_load(DEMO_KEYRING.read_text())
    old_key, new_key = (SigningKey.ed25519(kid, new_ed25519_seed(), org="acme", team="vision")
                        for kid in ("vision-old", "vision-new"))
    old, new = ({"kid": k.kid, "public_key": b64encode(k.public_key), "org": "acme", "team": "vision"}
                for k in (old_key, new_key))  # admission holds the public halves only
    document["keys"] = [old]
    keyring.write_text(yaml.safe_dump(document))
    new_signer = TokenSigner([KeyEntry(new_key, ("default",))], subject="ci")
    old_signer = TokenSigner([KeyEntry(old_key, ("default",))], subject="ci")
    app = create_app(settings.model_copy(update={"admission_keyring": str(keyring)}), DEFINITION)
    async with app:
        pool = app.runtime.pool
        async with EventPublisher(settings.kafka_bootstrap, settings.topic_namespace) as pub:
            await pub.publish([new_signer(job("k-1")), old_signer(job("k-2"))])
            await wait_for_decisions(pool, 2)
            document["keys"] = [old, new]  # 1. add the new key: both verify during the overlap
            _replace(keyring, document)
            await pub.publish([new_signer(job("k-3")), old_signer(job("k-4"))])
            await wait_for_decisions(pool, 4)
            document["keys"] = [{**old, "retired_at": 1}, new]  # 2. retire the old key
            _replace(keyring, document)
            await pub.publish([new_signer(job("k-5")), old_signer(job("k-6"))])
            await wait_for_decisions(pool, 6)
            keyring.write_text("keys: [this is not a keyring")  # 3. a broken edit keeps the last good keyring
            await pub.publish([new_signer(job("k-7"))])
            rows = await wait_for_decisions(pool, 7)
    outcome = {k: (v[0]["outcome"], v[0]["reason"]) for k, v in rows.items()}
    assert outcome == {"k-1": ("rejected", "token_unknown_key"), "k-2": ("accepted", None),
                       "k-3": ("accepted", None), "k-4": ("accepted", None),
                       "k-5": ("accepted", None), "k-6": ("rejected", "token_key_retired"),
                       "k-7": ("accepted", None)}


def _replace(path: Path, document: dict) -> None:
    """Writes the file atomically (as an operator's tooling would) with a new mtime."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(document))
    shutil.move(tmp, path)


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batch"])
async def test_the_per_event_and_batch_paths_decide_alike(database_url, batched):
    """The per-event handler (the fallback when a batch fails) and the batch handler agree on a tricky sequence."""
    from libs.platform import store
    from libs.platform.unit_of_work import UnitOfWork
    from services.admission.app import build_handlers

    pool = await store.create_pool(database_url, "admission", size=1)
    await store.migrate(pool, "admission", Path(DEFINITION.service_dir))
    handlers, signer = build_handlers(Settings()), demo_signer()
    token = signer.token("acme", "vision")
    events = [signed(job("p-1"), token), signed(job("p-1"), token),  # same submission again: duplicate id
              signed(job("p-2"), token),  # same token, other submission: replay
              signer(job("p-3")), signer(job("p-3")), signed(job("p-4"), None)]
    async with pool.acquire() as conn, conn.transaction():
        uows = [UnitOfWork(conn=conn, producer="admission", namespace="x", cause=e) for e in events]
        if batched:
            await handlers.handle_workload_submitted_batch(events, uows)
        else:
            for event, uow in zip(events, uows):
                await handlers.handle_workload_submitted(event, uow)
        rows = await conn.fetch("select workload_id, outcome, reason from audit_log order by seq")
        emitted = await conn.fetchval("select count(*) from outbox")
    await pool.close()
    assert [(r["workload_id"], r["reason"]) for r in rows] == [
        ("p-1", None), ("p-1", "workload_duplicate"), ("p-2", "token_replayed"),
        ("p-3", None), ("p-3", "workload_duplicate"), ("p-4", "token_missing")]
    assert emitted == len(events)


async def test_a_token_spent_meanwhile_by_another_instance_fails_the_batch_and_the_redo_says_replayed(database_url):
    """Two instances race to spend one token on different workloads (different partitions): the loser's batch
    is rolled back, and handled one by one it is refused as a replay."""
    from libs.admission import authenticate
    from libs.platform import store
    from libs.platform.unit_of_work import UnitOfWork
    from services.admission.app import build_handlers
    from services.admission.handlers import ConcurrentClaim
    from tests.integration.test_admission_usage import waits_on_lock

    pool = await store.create_pool(database_url, "admission", size=2)
    await store.migrate(pool, "admission", Path(DEFINITION.service_dir))
    handlers, signer = build_handlers(Settings()), demo_signer()
    event = signer(job("race-1"))
    identity = authenticate(event.token, handlers.keyring.current().keyring, datetime.now(timezone.utc))
    other, watcher = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        spending = other.transaction()
        await spending.start()  # the other instance has spent the token but not committed yet
        await other.execute("insert into admission.token_claims(jti, binding, expires_at) values ($1, 'elsewhere', $2)",
                            f"acme/vision/{identity.jti}", identity.expires_at + 30)
        async with pool.acquire() as conn:
            async def batch() -> None:
                async with conn.transaction():
                    uow = UnitOfWork(conn=conn, producer="admission", namespace="x", cause=event)
                    await handlers.handle_workload_submitted_batch([event], [uow])

            task = asyncio.create_task(batch())
            await waits_on_lock(watcher, conn, task, "the batch should wait on the other instance's claim")
            await spending.commit()
            with pytest.raises(ConcurrentClaim):
                await task
        async with pool.acquire() as conn, conn.transaction():
            await handlers.handle_workload_submitted(event, UnitOfWork(conn=conn, producer="admission",
                                                                       namespace="x", cause=event))
            assert await conn.fetchval("select reason from audit_log") == "token_replayed"
    finally:
        await other.close()
        await watcher.close()
        await pool.close()
