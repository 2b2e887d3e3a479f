"""Team usage in the admission service: team maxima count what a team already holds, and ending events release it.

The pure parts (routing, the ledger) run in memory; the service test runs the admission app on FastStream's
in-memory TestKafkaBroker with its real Postgres schema and a policy file with team limits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from faststream import TestApp
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from libs.admission import TeamUsage, load_policy
from libs.events import (PodSet, Resources, Tenant, WorkloadEvicted, WorkloadFailed, WorkloadSpec, WorkloadSubmitted,
                         WorkloadSucceeded, decode, encode)
from libs.events.topics import ADMISSION, LIFECYCLE, SUBMITTED
from libs.platform.settings import Settings
from services.admission import usage
from services.admission.app import DEFINITION, build_handlers, create_app
from services.admission.signing import demo_signer

REPO = Path(__file__).resolve().parents[3]
VISION, NLP = Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp")
SIGN = demo_signer()


def policy_with_team_limits(tmp_path: Path, **limits: dict) -> Path:
    """Writes the demo policy with ``team_limits`` for the given teams ("acme/nlp" spelled acme_nlp)."""
    document = yaml.safe_load((REPO / "deploy/admission/policy.yaml").read_text())
    for key, team_limits in limits.items():
        document["tenants"].setdefault(key.replace("_", "/"), {})["team_limits"] = team_limits
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def job(workload_id: str, tenant: Tenant, gpus: int = 1) -> WorkloadSubmitted:
    pod_set = PodSet(name="main", count=1, requests=Resources(gpu=gpus))
    return SIGN(WorkloadSubmitted(workload_id=workload_id, tenant=tenant,
                                  spec=WorkloadSpec(name="train", pod_sets=(pod_set,))))


def test_the_router_handles_or_ignores_every_event_of_the_topics_admission_consumes():
    router = build_handlers(Settings()).router()
    consumed = frozenset().union(*(t.event_names for t in DEFINITION.consumes))
    assert LIFECYCLE in DEFINITION.consumes
    assert set(router.handlers) | router.ignored == consumed and not set(router.handlers) & router.ignored
    assert {"WorkloadSucceeded", "WorkloadFailed"} <= set(router.batch_handlers) <= set(router.handlers)
    assert router.route("WorkloadEvicted") is None, "an evicted workload is requeued: it keeps its usage"
    assert router.route("WorkloadRunning") is None


def test_the_ledger_counts_only_teams_with_limits_and_grows_in_order():
    ledger = usage.Ledger(frozenset({("acme", "vision")}), {("acme", "vision"): TeamUsage(2000, 2, 2)})
    assert ledger.of(("acme", "vision")) == TeamUsage(2000, 2, 2)
    ledger.add(("acme", "vision"), TeamUsage(500, 1, 1))
    ledger.add(("acme", "nlp"), TeamUsage(1000, 4, 1))
    assert ledger.of(("acme", "vision")) == TeamUsage(2500, 3, 3)
    assert ledger.of(("acme", "nlp")) == TeamUsage(), "no limits: not read"
    assert ledger.deltas() == [("acme", "nlp", 1000, 4, 1), ("acme", "vision", 500, 1, 1)], "team order, added only"


def test_team_limits_are_detected_in_the_merged_policy():
    policy = load_policy("default: {team_limits: {max_pods: 10}}\ntenants: {acme/nlp: {team_limits: {max_pods: 4}}}")
    assert usage.has_team_limits(policy.for_tenant("acme", "nlp"))
    assert usage.has_team_limits(policy.for_tenant("globex", "x")), "inherited from the default layer"
    assert not usage.has_team_limits(load_policy("default: {}").for_tenant("acme", "nlp"))


@pytest.fixture
def app(database_url: str, tmp_path: Path):
    policy = policy_with_team_limits(tmp_path, acme_vision={"max_gpus": 2})
    settings = Settings(kafka_bootstrap="in-memory:9092", database_url=database_url, ensure_topics=False,
                        outbox_poll_s=0.01, admission_policy=str(policy), admission_reload_s=0)
    return create_app(settings)


async def test_in_memory_team_gpus_count_what_the_team_holds_until_its_workloads_end(app):
    verdicts: dict[str, object] = {}

    @app.broker.subscriber(ADMISSION.name, group_id="test-collector")
    async def sink(message: KafkaMessage) -> None:
        verdict = decode(message.body)
        verdicts[verdict.workload_id] = verdict

    async def submit(*events: WorkloadSubmitted) -> list[object]:
        for event in events:
            await broker.publish(encode(event), SUBMITTED.name, key=event.key)
        for _ in range(200):
            if all(e.workload_id in verdicts for e in events):
                break
            await asyncio.sleep(0.02)
        return [verdicts.get(e.workload_id) for e in events]

    async def end(*events) -> None:
        for event in events:
            await broker.publish(encode(event), LIFECYCLE.name, key=event.key)

    done = WorkloadSucceeded(workload_id="v-1", tenant=VISION, cluster="c1")
    async with TestKafkaBroker(app.broker) as broker, TestApp(app):
        first = await submit(job("v-1", VISION), job("v-2", VISION), job("v-3", VISION), job("n-1", NLP, gpus=8))
        await end(WorkloadEvicted(workload_id="v-2", tenant=VISION, cluster="c1", reason="preempted"))
        evicted = await submit(job("v-4", VISION))
        await end(done)
        freed = await submit(job("v-5", VISION))
        await end(done, WorkloadFailed(workload_id="v-1", tenant=VISION, cluster="c1", reason="pod-failed"),
                  WorkloadSucceeded(workload_id="v-3", tenant=VISION, cluster="c1"))  # v-3 was never admitted
        again = await submit(job("v-6", VISION))
        handlers = app.runtime.service
        usage_rows = await app.runtime.pool.fetch("select org, team, gpu_milli, workloads from team_usage order by 2")
    assert [v.type for v in first] == ["WorkloadAccepted", "WorkloadAccepted", "WorkloadRejected", "WorkloadAccepted"]
    assert first[2].rule == "team.max_gpus"
    assert first[2].message == ("team acme/vision would hold 3 GPUs with this job (2 already admitted); "
                                "the per-team maximum is 2")
    assert evicted[0].rule == "team.max_gpus", "an evicted workload is requeued and still holds its GPUs"
    assert freed[0].type == "WorkloadAccepted", "the succeeded workload's GPU was released"
    assert again[0].rule == "team.max_gpus", "a redelivered or second terminal event releases nothing more"
    assert handlers.released == 1
    assert [tuple(r) for r in usage_rows] == [("acme", "nlp", 8000, 1), ("acme", "vision", 2000, 2)]
