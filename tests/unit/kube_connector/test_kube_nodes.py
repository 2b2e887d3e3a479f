"""Nodes as inventory and health: a kwok node written from the fleet spec reads back as the very node the simulated
fleet reports (same id, pool, topology, GPUs and price), and no node object, however odd, crashes the mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.fleet import load_fleet
from libs.fleet.kube_nodes import cluster_nodes, price_table
from services.kube_connector.config import ConnectorConfig
from services.kube_connector.nodes import capacity_type, gpu_model, health_report, health_signals, inventory

AT = datetime(2026, 12, 1, tzinfo=UTC)
FLEET = load_fleet("deploy/fleet/demo.yaml")


def config(cluster: str) -> ConnectorConfig:
    return ConnectorConfig(cluster=cluster, signing_key_file="x", prices=price_table(FLEET, cluster))


@pytest.mark.parametrize("cluster", ["onprem-dc1", "aws-use1", "gcp-usc1"])
def test_a_kwok_node_reads_back_as_the_simulated_fleets_node(cluster):
    sim = {e.node_id: e for e in FLEET.node_events() if e.cluster == cluster}
    for node in cluster_nodes(FLEET, cluster):
        got = inventory(node, config(cluster), AT)
        want = sim[got.event.node_id]
        assert got.priced
        fields = ("cluster", "pool", "instance_type", "cpu_milli", "memory_mib", "gpu", "gpu_model", "topology",
                  "price_per_hour_micros", "taints")
        assert {f: getattr(got.event, f) for f in fields} == {f: getattr(want, f) for f in fields}
        assert want.labels.items() <= got.event.labels.items(), "the flavors' node labels match too"


@pytest.mark.parametrize("product, model", [
    ("NVIDIA-H100-80GB-HBM3", "H100"), ("NVIDIA-A100-SXM4-80GB", "A100"), ("Tesla-T4", "T4"),
    ("NVIDIA-Tesla-V100-SXM2-16GB", "V100"), ("NVIDIA-L4", "L4"), ("A10G", "A10G"), ("", None), (None, None)])
def test_gpu_models_come_from_the_feature_discovery_product_label(product, model):
    assert gpu_model(product) == model


@pytest.mark.parametrize("labels, kind", [
    ({"karpenter.sh/capacity-type": "spot"}, "spot"), ({"eks.amazonaws.com/capacityType": "SPOT"}, "spot"),
    ({"cloud.google.com/gke-spot": "true"}, "spot"), ({"cloud.google.com/gke-preemptible": "true"}, "spot"),
    ({"karpenter.sh/capacity-type": "on-demand"}, "on-demand"), ({}, "on-demand")])
def test_capacity_type_from_the_clouds_labels(labels, kind):
    assert capacity_type(labels) == kind


def test_a_node_without_topology_labels_is_a_domain_of_its_own_and_an_unpriced_one_costs_nothing():
    node = {"metadata": {"name": "n1", "labels": {"node.kubernetes.io/instance-type": "m9.huge"}},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}}
    got = inventory(node, ConnectorConfig(cluster="c", signing_key_file="x"), AT)
    assert not got.priced and got.event.price_per_hour_micros == 0
    assert got.event.topology.rack == got.event.topology.block == "c/n1" and got.event.topology.zone == "c/default"
    assert (got.event.cpu_milli, got.event.memory_mib, got.event.gpu) == (4000, 16384, 0)


def test_health_reports_conditions_and_reports_a_gpu_fault_only_when_asked():
    faults = {"batchyard.dev/gpu-xid": "79, 48", "batchyard.dev/gpu-xid-gpu": "3"}
    node = {"metadata": {"name": "n1", "annotations": faults},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T00:00:00Z"},
                {"type": "DiskPressure", "status": "True", "lastTransitionTime": "2026-12-01T01:00:00Z"},
                {"type": "MemoryPressure", "status": "Unknown"}]}}
    signals = health_signals(node)
    with_fault = health_report("c/n1", signals, heartbeat=True, at=AT, to_event_time=lambda t: t, with_faults=True)
    plain = health_report("c/n1", signals, heartbeat=True, at=AT, to_event_time=lambda t: t, with_faults=False)
    assert with_fault.conditions == {"Ready": True, "DiskPressure": True}
    assert with_fault.conditions_since["DiskPressure"] == datetime(2026, 12, 1, 1, tzinfo=UTC)
    assert (with_fault.xid_codes, with_fault.gpu) == ((79, 48), 3)
    assert plain.xid_codes == () and plain.gpu is None


text = st.text(max_size=20)
quantity = st.one_of(text, st.sampled_from(["1", "500m", "1Gi", "-1", "1e3", "8", "", "0.5"]))


@settings(max_examples=300, deadline=None)
@given(labels=st.dictionaries(st.sampled_from([
    "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone", "batchyard.dev/rack", "batchyard.dev/pool",
    "nvidia.com/gpu.product", "karpenter.sh/capacity-type", "x"]), text, max_size=7),
    allocatable=st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu", "pods"]), quantity, max_size=4),
    taints=st.lists(st.fixed_dictionaries({"key": text, "effect": st.sampled_from(
        ["NoSchedule", "NoExecute", "PreferNoSchedule", "Bogus", ""])}), max_size=3))
def test_no_node_object_crashes_the_mapping(labels, allocatable, taints):
    node = {"metadata": {"name": "n", "labels": labels}, "spec": {"taints": taints},
            "status": {"allocatable": allocatable}}
    event = inventory(node, ConnectorConfig(cluster="c", signing_key_file="x"), AT).event
    assert event.node_id == "c/n" and event.cpu_milli >= 0 and event.gpu >= 0


def test_the_sweep_reads_a_node_again_only_when_it_changed(monkeypatch):
    """The connector looks at every node every second; an unchanged node (same resourceVersion) is not mapped again,
    and an inventory re-sent from that memory is stamped anew (fresh event id, the time of sending)."""
    from libs.platform.clock import SimClock
    from services.kube_connector import nodes_sync
    from services.kube_connector.nodes_sync import NodeSync

    calls = []
    real = nodes_sync.mapping.inventory
    monkeypatch.setattr(nodes_sync.mapping, "inventory", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    wall = [1_000.0]
    sync = NodeSync(api=None, pool=None, config=config("onprem-dc1"), pods=None,
                    clock=SimClock(wall_start=0.0, sim_start=AT, scale=1.0), namespace="t", on_emitted=lambda: None,
                    touch_workload=lambda _: None, now=lambda: wall[0])
    node = {**cluster_nodes(FLEET, "onprem-dc1")[0]}
    node["metadata"] = {**node["metadata"], "resourceVersion": "7"}
    first = sync._read_node(node)
    assert sync._read_node(node) == first and len(calls) == 1
    changed = {**node, "metadata": {**node["metadata"], "resourceVersion": "8",
                                    "labels": {**node["metadata"]["labels"], "extra": "yes"}}}
    assert sync._read_node(changed)[1] != first[1] and len(calls) == 2, "a new version is read: a new digest"
    wall[0] = 2_000.0
    sync.pods = type("NoPods", (), {"on": staticmethod(lambda _name: [])})()
    _, _, _, events = sync._report(changed, None)
    inv = next(e for e in events if e.type == "NodeInventoried")
    assert inv.occurred_at == sync.clock.sim_at(2_000.0), "stamped when sent, not when read"
    assert inv.event_id != sync._read_node(changed)[0].event.event_id and len(calls) == 2
