"""Adapters: event contracts in, placement-core records out, and the stored pod rows round trip."""

from __future__ import annotations

import json

import pytest
from scheduler_builders import inventoried, reserved

from libs import placement as pl
from libs.events import TopologyRequest
from libs.events.node import Taint
from libs.events.workload import Toleration
from services.scheduler.adapters import (
    assignments_of,
    decode_pods,
    encode_pods,
    node_spec_of,
    node_spec_of_stored,
    pod_set_of,
    toleration_of,
    workload_of,
)


def test_node_inventoried_becomes_a_node_spec_with_topology_taints_and_price() -> None:
    event = inventoried("dc1/a100-0001", labels={"team": "a"}, rack="r3",
                        taints=(Taint(key="gpu", value="a100", effect="NoSchedule"),))
    spec = node_spec_of(event)
    assert (spec.name, spec.cluster, spec.pool, spec.gpu_count, spec.gpu_model) == \
        ("dc1/a100-0001", "dc1", "a100", 8, "A100")
    assert spec.topology == pl.Topology(zone="dc1/z", block="dc1/b", rack="dc1/r3", host="dc1/a100-0001")
    assert spec.taints == (pl.Taint("gpu", "a100", pl.TaintEffect.NO_SCHEDULE),)
    assert spec.labels == {"team": "a"} and spec.price_per_hour == pytest.approx(9.6)
    assert spec.healthy and not spec.cordoned


def test_cpu_node_has_no_gpu_model() -> None:
    assert node_spec_of(inventoried("c", gpus=0, model=None)).gpu_model == ""


@pytest.mark.parametrize("state, healthy, cordoned", [
    (None, True, False), ("healthy", True, False), ("suspect", True, False), ("cordoned", True, True),
    ("draining", True, True), ("repairing", False, False), ("retired", False, False),
], ids=lambda v: str(v))
def test_repair_state_maps_to_cordon_or_health(state, healthy, cordoned) -> None:
    spec = node_spec_of(inventoried("n"), state)
    assert (spec.healthy, spec.cordoned) == (healthy, cordoned)


@pytest.mark.parametrize("kwargs, count, milli", [
    ({}, 0, 1000), ({"gpu": 4}, 4, 1000), ({"gpu_milli": 250}, 1, 250),
], ids=["cpu-only", "whole-gpus", "shared-gpu"])
def test_gpu_requests_map_to_count_and_per_gpu_milli(kwargs, count, milli) -> None:
    ps = pod_set_of(reserved("w").pods("p", **kwargs).build().spec.pod_sets[0])
    assert (ps.gpu_count, ps.gpu_milli) == (count, milli)


def test_pod_set_carries_models_selector_tolerations_topology_and_min_count() -> None:
    event = reserved("w").pods("workers", 8, gpu=8, model="H100|A100", selector={"disk": "nvme"}, min_count=4,
                               tolerations=(Toleration(key="gpu"), Toleration(key="x", value="y", effect="NoSchedule")),
                               topology=TopologyRequest(level="rack", mode="preferred")).build()
    ps = pod_set_of(event.spec.pod_sets[0])
    assert ps.gpu_models == ("A100", "H100") and ps.node_selector == {"disk": "nvme"}
    assert (ps.count, ps.min_count, ps.required_count) == (8, 4, 4)
    assert ps.tolerations == (pl.Toleration("gpu", "Exists"),
                              pl.Toleration("x", "Equal", "y", pl.TaintEffect.NO_SCHEDULE))
    assert ps.topology == pl.TopologyRequest(pl.TopologyLevel.RACK, pl.TopologyMode.PREFERRED)


def test_toleration_without_value_tolerates_any_value_of_its_key() -> None:
    assert toleration_of(Toleration(key="gpu")).tolerates(pl.Taint("gpu", "anything"))
    assert not toleration_of(Toleration(key="gpu", value="a")).tolerates(pl.Taint("gpu", "b"))


@pytest.mark.parametrize("cluster, pool, clusters, pools", [
    ("dc1", "a100", ("dc1",), ("a100",)), (None, "a100", (), ("a100",)), (None, None, (), ()),
], ids=["cluster-and-pool", "any-cluster", "anywhere"])
def test_workload_takes_the_flavor_clusters_pools_and_priority(cluster, pool, clusters, pools) -> None:
    w = workload_of(reserved("w").priority(7).flavor(cluster, pool).pods("a").pods("b").build())
    assert (w.id, w.priority, w.clusters, w.pools) == ("w", 7, clusters, pools)
    assert [p.name for p in w.pod_sets] == ["a", "b"]


def test_assignments_carry_pod_index_node_and_gpu_indices() -> None:
    result = pl.PlacementResult("w", pl.PlacementOutcome.FIT, (
        pl.PodAssignment("w/workers/0", "workers", "n1", ((2, 1000), (3, 1000))),
        pl.PodAssignment("w/workers/1", "workers", "n2", ((0, 500),)),
        pl.PodAssignment("w/head/0", "head", "n2", ())), cluster="dc1")
    out = assignments_of(result)
    assert [(a.pod_set, a.index, a.node_id, a.gpus) for a in out] == [
        ("workers", 0, "n1", (2, 3)), ("workers", 1, "n2", (0,)), ("head", 0, "n2", ())]


def test_stored_pods_round_trip_with_exact_gpus() -> None:
    pods = [pl.BoundPod("w/p/0", "w", "n1", 4000, 1024, ((1, 1000), (5, 1000)), 3, 12.5),
            pl.BoundPod("w/p/1", "w", "n2", 4000, 1024, ((0, 250),), 3, 12.5)]
    assert decode_pods("w", encode_pods(pods), 3, 12.5) == pods


@pytest.mark.parametrize("event", [
    inventoried("a", taints=(Taint(key="gpu", effect="NoExecute"),), labels={"k": "v"}),
    inventoried("c", gpus=0, model=None),
], ids=["gpu-tainted", "cpu"])
@pytest.mark.parametrize("state", [None, "draining", "retired"])
def test_stored_inventory_rebuilds_the_same_node_spec_as_the_event(event, state) -> None:
    assert node_spec_of_stored(json.loads(event.model_dump_json()), state) == node_spec_of(event, state)
