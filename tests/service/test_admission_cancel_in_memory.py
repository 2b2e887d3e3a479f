"""Service tier: cancel requests through the admission app on FastStream's TestKafkaBroker, with its real Postgres
schema: cancelled once, a second cancel refused, other teams' and unknown workloads refused, garbage dead-lettered."""

from __future__ import annotations

import asyncio

import asyncpg
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from libs.events import Tenant, WorkloadCancelRequested, encode
from libs.events.topics import ADMISSION, DEAD_LETTER, SUBMITTED
from tests.service.test_admission_in_memory import SIGN, app, collect, submission  # noqa: F401 - the app fixture

NLP, VISION = Tenant(org="acme", team="nlp"), Tenant(org="acme", team="vision")


def cancel(workload_id: str, tenant: Tenant = NLP, *, signed_for: Tenant | None = None,
           token: bool = True) -> WorkloadCancelRequested:
    signer = signed_for or tenant
    return WorkloadCancelRequested(workload_id=workload_id, tenant=tenant, reason="bad input data",
                                   token=SIGN.token(signer.org, signer.team) if token else None)


async def until(predicate, tries: int = 300) -> None:
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.05)


async def test_cancel_once_then_refusals_with_reasons(app, database_url):  # noqa: F811 - pytest fixture
    verdicts = await collect(app, ADMISSION)
    letters = await collect(app, DEAD_LETTER)
    async with TestKafkaBroker(app.broker) as broker, TestApp(app):
        async def send(event) -> None:
            await broker.publish(encode(event), SUBMITTED.name, key=event.key)

        await send(submission("c-1"))
        await send(submission("c-2"))
        await until(lambda: len(verdicts) == 2)
        await send(cancel("c-1"))
        await until(lambda: len(verdicts) == 3)
        for event in (cancel("c-1"), cancel("nope"), cancel("c-2", VISION), cancel("c-2", VISION, signed_for=NLP),
                      cancel("c-2", token=False)):
            await send(event)
        await broker.publish(b'{"type": "WorkloadCancelRequested", "tenant": "acme/nlp"}', SUBMITTED.name, key=b"x")
        await until(lambda: len(verdicts) == 8 and letters)
    assert [(v.type, v.workload_id) for v in verdicts[:3]] == [
        ("WorkloadAccepted", "c-1"), ("WorkloadAccepted", "c-2"), ("WorkloadCancelled", "c-1")]
    cancelled = verdicts[2]
    assert (cancelled.cancelled_by, cancelled.reason, cancelled.tenant) == ("demo@batchyard", "bad input data", NLP)
    refused = [(v.type, v.workload_id, v.reason) for v in verdicts[3:]]
    assert refused == [("WorkloadCancelRefused", "c-1", "workload_already_cancelled"),
                       ("WorkloadCancelRefused", "nope", "workload_unknown"),
                       ("WorkloadCancelRefused", "c-2", "tenant_mismatch"),  # vision's token, nlp's workload
                       ("WorkloadCancelRefused", "c-2", "tenant_mismatch"),  # nlp's token, claiming vision
                       ("WorkloadCancelRefused", "c-2", "token_missing")]
    assert [letter.reason for letter in letters] == ["invalid"]
    conn = await asyncpg.connect(database_url)
    try:
        ended = await conn.fetch("select workload_id, finished_by from admission.admitted_workloads order by 1")
        audit = await conn.fetch("select workload_id, outcome, reason from admission.audit_log "
                                 "where action = 'cancel' order by seq")
    finally:
        await conn.close()
    assert [tuple(r) for r in ended] == [("c-1", "WorkloadCancelled"), ("c-2", None)]
    assert [tuple(r) for r in audit] == [("c-1", "accepted", None),
                                         *((wid, "rejected", why) for _, wid, why in refused)]
