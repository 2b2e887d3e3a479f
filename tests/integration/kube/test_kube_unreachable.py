"""A cluster that becomes unreachable, on a real control plane: its connector's heartbeats say so, node repair
judges the cluster unreachable after its grace (instead of taking every silent node for dead and cordoning it),
the running workload is neither evicted nor started twice, and when the API server is back the cluster is
reachable again and the workload finishes once."""

from __future__ import annotations

import asyncio
import json

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
    # Event time runs 600x wall time: node repair's cluster grace (7200 s, deploy/fleet/repair.yaml) is 12 wall
    # seconds and its node heartbeat timeout (14400 s) 24. Node heartbeats stop 5 wall seconds after the leases
    # stop being renewed, so without the cluster judgement node repair would cordon the silent nodes after ~30 s.
    fleet = small_fleet(cpu_pool("cpu", nodes=3))
    run = KubePlatform.start(services, fleet, kube, tmp_path, time_scale=600, services=(*PLACING, "node-repair"),
                             extra={"heartbeat_interval_s": 1, "lease_timeout_s": 5})
    cluster = kube[CLUSTER]
    observer = await FlowObserver(kafka_bootstrap, namespace).start()
    try:
        job = batchjob("long", "nlp", [pod_set("w", 1, pod_template(cpu="2", run_s=75))])
        cluster.apply(stdin=json.dumps(job))
        assert await until(lambda: state(cluster, "nlp", "long") == "Running"), run.platform.logs()

        cluster.control_plane.stop_apiserver()
        try:
            assert await observer.wait_for(lambda o: [e.reachable for e in o.reachability] == [False], timeout=60), \
                run.platform.logs()
            [down] = observer.reachability
            assert down.cluster == CLUSTER and down.reason == "ClusterUnreachable"
            assert "its connector says: 0 Unreachable: GET /readyz" in down.message, down.message
            await asyncio.sleep(30)  # past the nodes' heartbeat timeout
            assert not observer.counts["NodeRepairTransitioned"], "a partition is not a fleet of dead nodes"
        finally:
            cluster.control_plane.start_apiserver()

        assert await observer.wait_for(lambda o: [e.reachable for e in o.reachability] == [False, True],
                                       timeout=60), run.platform.logs()
        assert observer.reachability[1].reason == "ClusterReachable"
        assert await until(lambda: state(cluster, "nlp", "long") == "Succeeded", timeout=180), run.platform.logs()
        after = batchjob("after", "nlp", [pod_set("w", 1, pod_template(cpu="2", run_s=2))])
        cluster.apply(stdin=json.dumps(after))  # the cluster takes new work again
        assert await until(lambda: state(cluster, "nlp", "after") == "Succeeded", timeout=120), run.platform.logs()
        await asyncio.sleep(2)  # let any duplicate that would follow reach the observer
    finally:
        await observer.stop()
    run.platform.assert_alive()
    assert observer.counts["WorkloadPlaced"] == 2 and not observer.counts["WorkloadEvicted"], observer.counts
    assert get(cluster, "batchjob", "long", "-n", "nlp")["status"].get("attempts") == 1
    assert not observer.counts["NodeRepairTransitioned"]
    assert not observer.dead_letters
