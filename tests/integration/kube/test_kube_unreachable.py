"""A cluster that becomes unreachable, on a real control plane: its connector's heartbeats say so, node repair
judges the cluster unreachable after its grace (instead of taking every silent node for dead and cordoning it),
the running workload is neither evicted nor started twice, and when the API server is back the cluster is
reachable again and the workload finishes once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from libs.platform.observer import FlowObserver
from tests.support.kube import PLACING, KubePlatform, batchjob, cpu_pool, get, pod_set, pod_template, small_fleet, state
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
CLUSTER = "onprem-dc1"


async def until(check, timeout=120) -> bool:
    async def poll():
        return check()
    return await eventually(poll, timeout=timeout, interval=0.5)


async def test_an_unreachable_cluster_is_judged_so_its_nodes_are_not_repaired_and_its_work_runs_once(
        kube, services, tmp_path, kafka_bootstrap, namespace):
    # Event time runs 300x wall time: node repair's cluster grace (7200 s, deploy/fleet/repair.yaml) is 24 wall
    # seconds and its node heartbeat timeout (14400 s) 48. Node heartbeats stop 5 wall seconds after the leases
    # stop being renewed, so without the cluster judgement node repair would cordon the silent nodes after ~55 s.
    # Not faster: once the API server is back, kwok renews its leases late (in a probe here, 8 to 30 wall seconds
    # after, then every 10 s), and node repair excuses the nodes for the grace plus the timeout after the cluster is
    # back (72 wall seconds here). At 600x that was 36, and under CI's load kwok's gap outlasted it: node repair
    # rebooted all three silent nodes and the running job was evicted.
    fleet = small_fleet(cpu_pool("cpu", nodes=3))
    run = KubePlatform.start(services, fleet, kube, tmp_path, time_scale=300, services=(*PLACING, "node-repair"),
                             extra={"heartbeat_interval_s": 1, "lease_timeout_s": 5})
    cluster = kube[CLUSTER]
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    try:
        # It runs through the partition (~80 s); kwok restarts its timer when it lists the pod again after the
        # partition, so it ends 100 s or so after the cluster is back
        job = batchjob("long", "nlp", [pod_set("w", 1, pod_template(cpu="2", run_s=100))])
        cluster.apply(stdin=json.dumps(job))
        assert await until(lambda: state(cluster, "nlp", "long") == "Running"), run.platform.logs()

        cluster.control_plane.stop_apiserver()
        try:
            assert await observer.wait_for(lambda o: [e.reachable for e in o.reachability] == [False], timeout=60), \
                run.platform.logs()
            [down] = observer.reachability
            assert down.cluster == CLUSTER and down.reason == "ClusterUnreachable"
            assert "its connector says: 0 Unreachable: GET /readyz" in down.message, down.message
            await asyncio.sleep(50)  # past the nodes' heartbeat timeout
            assert not observer.counts["NodeRepairTransitioned"], "a partition is not a fleet of dead nodes"
        finally:
            cluster.control_plane.start_apiserver()

        assert await observer.wait_for(lambda o: [e.reachable for e in o.reachability] == [False, True],
                                       timeout=60), run.platform.logs()
        assert observer.reachability[1].reason == "ClusterReachable"
        back = time.monotonic()
        assert await until(lambda: state(cluster, "nlp", "long") == "Succeeded", timeout=180), run.platform.logs()
        after = batchjob("after", "nlp", [pod_set("w", 1, pod_template(cpu="2", run_s=2))])
        cluster.apply(stdin=json.dumps(after))  # the cluster takes new work again
        assert await until(lambda: state(cluster, "nlp", "after") == "Succeeded", timeout=120), run.platform.logs()
        # past the nodes' excuse (grace + timeout, 72 s): nodes whose heartbeats did not resume would be repaired by
        # then; and let any duplicate that would follow reach the observer
        await asyncio.sleep(max(2.0, back + 80 - time.monotonic()))
    finally:
        await observer.stop()
    run.platform.assert_alive()
    repairs = [(e.occurred_at, e.node_id, e.to_state, e.reason, e.evidence) for e in observer.repairs]
    assert observer.counts["WorkloadPlaced"] == 2 and not observer.counts["WorkloadEvicted"], \
        (observer.counts, observer.reachability, repairs, run.platform.logs())
    assert get(cluster, "batchjob", "long", "-n", "nlp")["status"].get("attempts") == 1
    assert not repairs, repairs
    assert not observer.dead_letters
