"""Retries end to end on real Kafka and Postgres with every service and the simulated fleet
(docs/adr/0016-suspend-resume-priority-retries.md): a workload's failed runs are retried up to its backoff limit,
each requeued by quota with backoff and numbered in every event; only the last failure ends it; team usage and
the cost ledger count each attempt once; `workloads describe` shows every attempt and why it ended."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from cli.main import app
from libs.events import PodSet, Resources, WorkloadSpec, WorkloadSubmitted
from libs.platform.observer import FlowObserver, WorkloadView
from libs.platform.publisher import EventPublisher
from services.sim_fleet.agents import fraction
from tests.integration.test_cancel import LIFECYCLE, SIGNER, VISION, by, rows
from tests.integration.test_quota_service import FLAVOR, cluster_queue
from tests.support.platforms import simulated_platform
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
FAILURE_PROBABILITY = 0.5


def workload_id(prefix: str, fails: tuple[bool, ...]) -> str:
    """Returns the first ``prefix-N`` whose runs fail (True) or succeed as ``fails`` says, the simulated fleet
    drawing each run's failure from the workload id and the run's number (services.sim_fleet.handlers)."""
    for n in range(10_000):
        wid = f"{prefix}-{n}"
        draws = [fraction(wid) if run == 1 else fraction(wid, run) for run in range(1, len(fails) + 1)]
        if tuple(d < FAILURE_PROBABILITY for d in draws) == fails:
            return wid
    raise AssertionError("no such workload id")  # pragma: no cover - 1 in 2**len(fails) ids match


DOOMED = workload_id("doomed", (True, True, True))  # backoff limit 2: fails three times, the last is final
LUCKY = workload_id("lucky", (True, False))  # backoff limit 3: fails once, then succeeds
ONCE = workload_id("once", (True,))  # no backoff limit: its first failure is final


def submission(wid: str, backoff_limit: int) -> WorkloadSubmitted:
    spec = WorkloadSpec(name=wid.split("-")[0], duration_s=600, backoff_limit=backoff_limit, pod_sets=(PodSet(
        name="train", count=1, gpu_model="A100", requests=Resources(cpu_milli=8000, memory_mib=65536, gpu=2)),))
    return SIGNER(WorkloadSubmitted(workload_id=wid, tenant=VISION, spec=spec, producer="test"))


@pytest.fixture
async def platform(kafka_bootstrap, database_url, namespace, tmp_path):
    """All services; vision's cluster queue holds 8 A100 GPUs; half the runs fail (drawn per workload and run)."""
    async with simulated_platform(kafka_bootstrap, database_url, namespace, tmp_path,
                                  FLAVOR + cluster_queue("vision", 8),
                                  pod_failure_probability=FAILURE_PROBABILITY) as p:
        yield p


async def closed_everywhere(database_url: str) -> bool:
    """Whether admission finished every workload and cost reporting closed every allocation."""
    unfinished = await rows(database_url, "select workload_id from admission.admitted_workloads "
                            "where finished_at is null")
    open_allocations = await rows(database_url, "select workload_id from cost_reporting.allocations "
                                  "where end_at is null")
    return not unfinished and not open_allocations


def failures(view: WorkloadView) -> list[tuple[int, bool]]:
    return [(e.attempt, e.final) for t, _, e in view.log[LIFECYCLE] if t == "WorkloadFailed"]


async def test_failed_runs_are_retried_up_to_the_backoff_limit(platform, kafka_bootstrap, namespace, database_url):
    o = await FlowObserver(kafka_bootstrap, namespace).start()
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish([submission(DOOMED, 2), submission(LUCKY, 3), submission(ONCE, 0)])
        done = ("failed", "succeeded", "failed")
        # the last run's end, then what follows it in the other services: quota's release of each reservation
        # (3, 2 and 1 of them), and admission and cost closing theirs (each reads the ends from Kafka on its own)
        released = (3, 2, 1)
        assert await o.wait_for(lambda o: tuple(o.workloads[w].state for w in (DOOMED, LUCKY, ONCE)) == done
                                and tuple(len(by(o.workloads[w], "QuotaReleased")) for w in (DOOMED, LUCKY, ONCE))
                                == released, timeout=180), (
            {w: (o.workloads[w].state, len(by(o.workloads[w], "QuotaReleased"))) for w in (DOOMED, LUCKY, ONCE)},
            platform.logs())
        assert await eventually(lambda: closed_everywhere(database_url), timeout=60), "admission or cost lags"
    await o.stop()
    platform.assert_alive()
    doomed, lucky, once = (o.workloads[w] for w in (DOOMED, LUCKY, ONCE))

    # every run is numbered: the failures, the reservations and placements that followed each one
    assert failures(doomed) == [(1, False), (2, False), (3, True)]
    assert [e.failures for e in by(doomed, "QuotaReserved", "quota")] == [0, 1, 2]
    assert [e.failures for e in by(doomed, "WorkloadPlaced")] == [0, 1, 2]
    assert doomed.retried == {1: "pod-failed", 2: "pod-failed"}
    assert failures(lucky) == [(1, False)] and len(by(lucky, "WorkloadSucceeded")) == 1
    assert [e.failures for e in by(lucky, "QuotaReserved", "quota")] == [0, 1]
    assert failures(once) == [(1, True)] and len(by(once, "QuotaReserved", "quota")) == 1
    # quota requeued each retried run with backoff, said so, and released the reservation as a retry
    for view in (doomed, lucky):
        assert any(e.reason == "Backoff" and "retry 1 of" in e.message for e in by(view, "WorkloadPending")), \
            [e.message for e in by(view, "WorkloadPending")]
    assert [e.reason for e in by(doomed, "QuotaReleased")] == ["retry", "retry", "failed"]

    # team usage: each workload held its team's budget through its retries and was released once, at its end
    ends = {DOOMED: by(doomed, "WorkloadFailed")[-1], LUCKY: by(lucky, "WorkloadSucceeded")[0],
            ONCE: by(once, "WorkloadFailed")[0]}
    assert sorted(await rows(database_url, "select workload_id, finished_at, finished_by from "
                             "admission.admitted_workloads")) == sorted(
        (w, e.occurred_at, e.type) for w, e in ends.items())
    assert await rows(database_url, "select gpu_milli, pods, workloads from admission.team_usage "
                      "where team = 'vision'") == [(0, 0, 0)]
    # quota: finished, with the failed runs it retried counted
    assert sorted(await rows(database_url, "select workload_id, state, failures from quota.workloads")) == sorted(
        [(DOOMED, "finished", 2), (LUCKY, "finished", 1), (ONCE, "finished", 0)])
    # cost: one accrual per run, each closed at that run's end
    for wid, view in ((DOOMED, doomed), (LUCKY, lucky)):
        run_ends = [e.occurred_at for t, _, e in view.log[LIFECYCLE] if t in ("WorkloadFailed", "WorkloadSucceeded")]
        assert await rows(database_url, "select end_at from cost_reporting.allocations where workload_id = $1 "
                          "order by start_at", wid) == [(at,) for at in run_ends]
    assert not o.dead_letters and not o.undecodable

    # the user's view: every attempt, and why the last one ended
    described = await asyncio.to_thread(CliRunner().invoke, app, ["workloads", "describe", DOOMED],
                                        env={"BATCHYARD_DATABASE_URL": database_url, "BATCHYARD_TOKEN": ""})
    assert described.exit_code == 0, described.output
    assert "2 failed run(s) retried so far" in described.output, described.output
    assert "failed run 1, retried" in described.output and "failed run 2, retried" in described.output
    assert "(pod-failed), failed run 3:" in described.output, described.output
