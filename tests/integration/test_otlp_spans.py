"""Spans over OTLP from real services on real Kafka and PostgreSQL, into a real receiver in the test process."""

from __future__ import annotations

import pytest

from libs.fleet.mix import workload_mix
from libs.localinfra._proc import free_port
from libs.localinfra.processes import Platform
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics
from services.admission.signing import demo_signer
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

FAST_BATCHES = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_EXPORTER_OTLP_TIMEOUT": "2"}  # standard variables
EVERY_HOP = {"batchyard-admission", "batchyard-quota", "batchyard-scheduler", "batchyard-sim-fleet",
             "batchyard-cost-reporting"}
WARNING = "spans cannot be exported over OTLP"


def succeeded(count: int, prefix: str):
    return lambda o: sum(v.state == "succeeded" for k, v in o.workloads.items() if k.startswith(prefix)) == count


async def test_a_submissions_spans_from_every_service_reach_the_receiver_in_one_trace(
        kafka_bootstrap, database_url, namespace, tmp_path):
    await ensure_topics(kafka_bootstrap, namespace)
    with OtlpReceiver() as receiver:
        env = {"BATCHYARD_TIME_SCALE": "1800", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **FAST_BATCHES}
        platform = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env=env).start()
        try:
            observer = await FlowObserver(kafka_bootstrap, namespace).start()
            async with EventPublisher(kafka_bootstrap, namespace) as pub:
                await pub.publish(list(workload_mix(3, seed=7, prefix="otlp", signer=demo_signer())))
            done = await observer.wait_for(succeeded(3, "otlp"), timeout=180)
            await observer.stop()
            assert done, f"{observer.states('otlp')}\n{platform.logs()}"
            platform.assert_alive()
            traces = {k: v.trace_ids for k, v in observer.workloads.items() if k.startswith("otlp")}
            assert all(len(ids) == 1 for ids in traces.values()), traces

            async def every_hop_arrived() -> bool:
                return all(receiver.services_in(next(iter(ids))) >= EVERY_HOP for ids in traces.values())

            arrived = await eventually(every_hop_arrived, timeout=60)
            assert arrived, {k: receiver.services_in(next(iter(ids))) for k, ids in traces.items()}
        finally:
            platform.stop()
    for name, service in platform.services.items():
        assert WARNING not in (tmp_path / f"{name}.1.log").read_text(), name


@pytest.mark.parametrize("where", ["refusing", "unreachable", "malformed"])
async def test_a_bad_otlp_endpoint_is_logged_once_and_the_service_goes_on(
        where, kafka_bootstrap, database_url, namespace, tmp_path):
    await ensure_topics(kafka_bootstrap, namespace)
    with OtlpReceiver(status=400) as refusing:
        endpoint = {"refusing": refusing.endpoint, "unreachable": f"http://127.0.0.1:{free_port()}",
                    "malformed": "::no such url"}[where]  # nothing listens on a free port
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **FAST_BATCHES}
        platform = Platform(kafka_bootstrap, database_url, namespace, tmp_path, extra_env=env)
        platform.start(["admission"])
        try:
            observer = await FlowObserver(kafka_bootstrap, namespace).start()
            submissions = list(workload_mix(4, seed=3, prefix="bad", signer=demo_signer()))
            for i, submission in enumerate(submissions, 1):  # one at a time: each handled in its own span batch
                async with EventPublisher(kafka_bootstrap, namespace) as pub:
                    await pub.publish([submission])
                assert await observer.wait_for(lambda o: sum(k.startswith("bad") and v.state != "submitted"
                                                             for k, v in o.workloads.items()) >= i, timeout=60), \
                    platform.logs()
                if where == "refusing":  # the exporter really tried again after its first failure
                    assert await eventually(_async(lambda: refusing.requests >= i), timeout=30)
            await observer.stop()
            platform.assert_alive()
            log = (tmp_path / "admission.1.log").read_text()
            assert await eventually(_async(lambda: WARNING in (tmp_path / "admission.1.log").read_text()),
                                    timeout=30), log
        finally:
            platform.stop()
    log = (tmp_path / "admission.1.log").read_text()
    assert log.count(WARNING) == 1, log
    assert "Traceback" not in log, log


def _async(check):
    async def run() -> bool:
        return bool(check())
    return run
