"""Suspend and resume end to end on real Kafka and Postgres with every service and the simulated fleet
(docs/adr/0016-suspend-resume-priority-retries.md): a suspended running workload is stopped with its nodes freed,
its quota released and its cost accrual closed at that instant; a suspended pending one leaves its queue; a resumed
one waits again at the back of its queue (it keeps its place in nothing); wrong requests are refused with reasons;
and suspends and resumes racing their own placements, or sent twice, leave every workload consistent."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from libs.events import Tenant, WorkloadResumeRequested, WorkloadSuspendRequested
from libs.platform.observer import FlowObserver, WorkloadView
from libs.platform.publisher import EventPublisher
from tests.integration.test_cancel import (LIFECYCLE, NLP, PLACEMENT, SIGNER, VISION, by, cli,  # noqa: F401
                                           one_runs_two_wait, platform, rows, submission)

pytestmark = pytest.mark.integration


def suspend(wid: str, tenant: Tenant = VISION, signed_for: Tenant = VISION) -> WorkloadSuspendRequested:
    return WorkloadSuspendRequested(workload_id=wid, tenant=tenant, reason="test", producer="test",
                                    token=SIGNER.token(signed_for.org, signed_for.team))


def resume(wid: str) -> WorkloadResumeRequested:
    return WorkloadResumeRequested(workload_id=wid, tenant=VISION, reason="test", producer="test",
                                   token=SIGNER.token(VISION.org, VISION.team))


def types(view: WorkloadView) -> dict[str, list[str]]:
    return {topic: [t for t, _, _ in log] for topic, log in view.log.items()}


def refusals(view: WorkloadView) -> list[tuple[str, str]]:
    return [(e.request, e.reason) for e in by(view, "WorkloadRequestRefused")]


def ends(view: WorkloadView) -> list:
    return [e for t, _, e in view.log[LIFECYCLE] if t in ("WorkloadSucceeded", "WorkloadFailed", "WorkloadEvicted")]


async def test_suspend_running_and_pending_resume_at_the_back_and_refusals(platform, kafka_bootstrap,  # noqa: F811
                                                                           namespace, database_url):
    o = await FlowObserver(kafka_bootstrap, namespace).start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        # 1. x runs and holds vision's whole quota; a then b wait behind it.
        await one_runs_two_wait(o, pub, platform, "x", "ab")

        # 2. a is suspended while it waits, then resumed: it is queued again, now behind b.
        await pub.publish([suspend("a")])
        assert await o.wait_for(lambda o: by(o.workloads["a"], "WorkloadSuspended", "scheduler"), timeout=60)
        await pub.publish([resume("a")])
        assert await o.wait_for(lambda o: by(o.workloads["a"], "WorkloadResumed")
                                and o.workloads["a"].state == "pending", timeout=60), types(o.workloads["a"])

        # 3. x is suspended while it runs (with the CLI): the fleet stops it; its quota goes to b, not to a.
        done = await cli(kafka_bootstrap, namespace, "suspend", "x", "--org", "acme", "--team", "vision",
                         "--reason", "weekend")
        assert (done.exit_code, done.output) == (0, "suspend requested for x\n"), done.output
        assert await o.wait_for(lambda o: o.workloads["b"].state == "running", timeout=120), platform.logs()

        # 4. refusals: x suspended again, b resumed though not suspended, b suspended by nlp.
        await pub.publish([suspend("x"), resume("b"), suspend("b", NLP, NLP)])
        assert await o.wait_for(lambda o: refusals(o.workloads["x"]) and len(refusals(o.workloads["b"])) == 2,
                                timeout=60)

        # 5. x resumed with the CLI: a fresh attempt, pending behind a.
        done = await cli(kafka_bootstrap, namespace, "resume", "x", "--org", "acme", "--team", "vision")
        assert (done.exit_code, done.output) == (0, "resume requested for x\n"), done.output
        assert await o.wait_for(lambda o: by(o.workloads["x"], "WorkloadResumed")
                                and o.workloads["x"].state == "pending", timeout=60), platform.logs()
    await o.stop()
    platform.assert_alive()
    x, a, b = (o.workloads[w] for w in "xab")
    assert not by(a, "QuotaReserved") and not by(a, "WorkloadPlaced")  # a never got ahead of b
    [a_copy] = by(a, "WorkloadSuspended", "scheduler")
    assert a_copy.placed is False
    [x_copy] = by(x, "WorkloadSuspended", "scheduler")
    assert (x_copy.placed, x_copy.suspended_by, x_copy.reason) == (True, "me@laptop", "weekend")
    [end] = ends(x)
    assert (end.type, end.reason) == ("WorkloadEvicted", "suspended")
    assert [e.reason for e in by(x, "QuotaReleased")] == ["suspended"]
    assert len(by(x, "WorkloadPlaced")) == 1  # not placed again while b holds the quota
    assert refusals(x) == [("suspend", "workload_already_suspended")]
    assert refusals(b) == [("resume", "workload_not_suspended"), ("suspend", "tenant_mismatch")]
    assert await rows(database_url, "select workload_id from sim_fleet.pods order by 1") == [("b",)]
    assert await rows(database_url, "select workload_id from scheduler.placements order by 1") == [("b",)]
    assert await rows(database_url, "select workload_id, state from quota.workloads order by created_at") == [
        ("b", "reserved"), ("a", "pending"), ("x", "pending")]  # a and x: fresh attempts, in resume order
    assert await rows(database_url, "select count(*) from quota.suspended_workloads") == [(0,)]
    # cost: x's accrual closed at the instant its pods stopped (the fleet's clock)
    assert await rows(database_url, "select end_at from cost_reporting.allocations where workload_id = 'x'") == [
        (end.occurred_at,)]
    assert await rows(database_url, "select workload_id, suspended_at is null from admission.admitted_workloads "
                      "where finished_by is null order by 1") == [("a", True), ("b", True), ("x", True)]
    audit = await rows(database_url, "select workload_id, action, outcome, reason from admission.audit_log "
                       "where action in ('suspend', 'resume') order by seq")
    assert audit[:3] == [("a", "suspend", "accepted", None), ("a", "resume", "accepted", None),
                         ("x", "suspend", "accepted", None)]
    assert sorted(audit[3:]) == [("b", "resume", "rejected", "workload_not_suspended"),
                                 ("b", "suspend", "rejected", "tenant_mismatch"),
                                 ("x", "resume", "accepted", None),
                                 ("x", "suspend", "rejected", "workload_already_suspended")]


async def drained(database_url: str, sql: str, timeout: float = 120) -> bool:
    """Waits until ``sql`` returns no rows; returns whether it did before ``timeout``."""
    for _ in range(int(timeout / 0.5)):
        if not await rows(database_url, sql):
            return True
        await asyncio.sleep(0.5)
    return False


def settled(paused: list[str], bounced: list[str]):
    """Every suspended workload stopped; every suspended-and-resumed one ran to the end."""
    def check(o: FlowObserver) -> bool:
        for wid in paused:
            v = o.workloads[wid]
            if v.state == "succeeded":  # ended before admission read the suspend
                continue
            if not by(v, "WorkloadSuspended", "scheduler") or len(ends(v)) < len(by(v, "WorkloadPlaced")):
                return False
        return all(o.workloads[w].state == "succeeded" for w in bounced)
    return check


async def test_suspends_and_resumes_racing_their_placement_and_sent_twice_stay_consistent(
        platform, kafka_bootstrap, namespace, database_url):  # noqa: F811
    o = await FlowObserver(kafka_bootstrap, namespace).start()
    ids = [f"s{i:02d}" for i in range(30)]
    paused, bounced = ids[::2], ids[1::2]
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        for wid in ids:  # each request right behind its submission: some land pending, some reserved, some placed
            events = [submission(wid, gpus=1, duration_s=7200), suspend(wid), suspend(wid)]
            await pub.publish(events + ([resume(wid), resume(wid)] if wid in bounced else []))
    assert await o.wait_for(settled(paused, bounced), timeout=300), \
        f"{ {w: o.workloads[w].state for w in ids} }\n{platform.logs()}"
    await o.stop()
    platform.assert_alive()
    seen: Counter[str] = Counter()  # how the suspends landed (printed, not asserted: it depends on timing)
    for wid in ids:
        v = o.workloads[wid]
        if v.state == "succeeded" and not by(v, "WorkloadSuspended"):  # ended before admission read the suspend
            assert all(reason == "workload_finished" for _, reason in refusals(v))
            seen["finished first"] += 1
            continue
        assert len(by(v, "WorkloadSuspended", "admission")) == 1  # a second suspend is refused
        expected = [("suspend", "workload_already_suspended")]
        if wid in bounced:
            assert len(by(v, "WorkloadResumed")) == 1
            expected.append(("resume", "workload_not_suspended"))
        assert refusals(v) == expected, (wid, refusals(v))
        placement = [(t, e) for t, _, e in v.log[PLACEMENT] if t in ("WorkloadPlaced", "WorkloadSuspended")]
        [at] = [i for i, (t, _) in enumerate(placement) if t == "WorkloadSuspended"]
        before = [e for t, e in placement[:at] if t == "WorkloadPlaced"]
        after = [e for t, e in placement[at:] if t == "WorkloadPlaced"]
        if placement[at][1].placed:
            assert before, wid
        run_ends = [(e.type, getattr(e, "reason", "")) for e in ends(v)]
        if wid in paused or (before and run_ends[0][0] == "WorkloadSucceeded"):  # or it finished by itself
            assert not after, f"{wid} placed while suspended"
        else:
            assert len(after) == 1, wid  # resumed: exactly one fresh run, which succeeded
        if before:  # its first run was stopped by the suspend (or had ended by itself first)
            assert run_ends[0] in (("WorkloadEvicted", "suspended"), ("WorkloadSucceeded", "")), (wid, run_ends)
        assert len(run_ends) == len(by(v, "WorkloadPlaced")), (wid, run_ends)
        seen["placed, then stopped" if before else "stopped before placement"] += 1
    print(f"suspends racing placement: {dict(seen)}")
    # the observer may see a run's last end before the fleet, the scheduler and quota have consumed it: wait
    for sql in ("select workload_id from sim_fleet.pods", "select workload_id from scheduler.placements",
                "select workload_id from quota.workloads where state not in ('suspended', 'finished')"):
        assert await drained(database_url, sql), (sql, await rows(database_url, sql))
    states = dict(await rows(database_url, "select workload_id, state from quota.workloads"))
    assert {states[w] for w in bounced} == {"finished"}
    assert {states[w] for w in paused} <= {"suspended", "finished"}
