"""The walking skeleton on real Kafka and Postgres: 200 workloads from several teams, end to end."""

from __future__ import annotations

import base64
import os
from collections import Counter

import pytest

from libs.events.topics import SUBMITTED
from libs.fleet.mix import workload_mix
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from services.admission.signing import demo_signer

pytestmark = pytest.mark.integration


def stuck(o: FlowObserver, prefix: str) -> str:
    """Returns the workloads that did not finish, with their last state and reason (for failure messages)."""
    return "\n".join(f"{k}: {v.state}: {v.reason}" for k, v in sorted(o.workloads.items())
                     if k.startswith(prefix) and v.state != "succeeded")


def finished_with_cost(count: int, prefix: str):
    def check(o: FlowObserver) -> bool:
        done = [v for k, v in o.workloads.items() if k.startswith(prefix) and v.state == "succeeded"]
        return len(done) == count and all(v.accrual_ids for v in done)
    return check


async def test_200_workloads_from_several_teams_succeed_with_cost_and_poison_is_dead_lettered(
        platform, kafka_bootstrap, namespace):
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    submissions = list(workload_mix(200, seed=11, prefix="flow", signer=demo_signer()))
    malformed = b'{"type": "WorkloadSubmitted", "workload_id": "bad-1", "spec": {"name": "Not A Name!"}}'
    async with EventPublisher(kafka_bootstrap, namespace) as pub:
        await pub.publish(submissions[:100])
        await (await pub.send_raw(SUBMITTED, malformed, key=b"bad-1"))
        await pub.publish(submissions[100:])
    finished = await observer.wait_for(finished_with_cost(200, "flow"), timeout=float(os.environ.get('FLOW_TIMEOUT', 300)))
    await observer.stop()
    platform.assert_alive()
    assert finished, f"states: {observer.states('flow')}\n{stuck(observer, 'flow')}\n{platform.logs()}"

    views = {k: v for k, v in observer.workloads.items() if k.startswith("flow")}
    assert len({v.tenant for v in views.values()}) == 3
    # a workload evicted by a node drain is requeued and placed again: once per run, never more
    assert all(len(v.placed_ids) == 1 + len(v.evicted_ids) for v in views.values()), "a workload was placed twice"
    assert all(v.cost_micros > 0 for v in views.values())
    assert Counter(len(v.trace_ids) for v in views.values()) == Counter({1: 200}), "one trace per workload"
    [letter] = observer.dead_letters
    assert (letter.service, letter.reason) == ("admission", "invalid")
    assert "pod_sets" in letter.error and base64.b64decode(letter.original) == malformed
