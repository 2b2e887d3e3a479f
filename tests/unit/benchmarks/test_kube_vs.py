"""benchmarks.kube_vs's own arithmetic and the pods it asks each scheduler for."""

from __future__ import annotations

import benchmarks.kube_vs as kube_vs
from benchmarks.kube_vs import RACK, basic_pods, gang_pods, recorded, stranded


def test_stranded_counts_pods_left_in_gangs_bound_in_part():
    result = {"bound": 80, "gang_bound": {"g000": 32, "g001": 32, "g002": 16}}
    assert stranded(result, 32) == {"bound": 80, "gangs_whole": 2, "gangs_partial": 1,
                                    "pods_stranded_in_partial_gangs": 16}
    assert "gang_bound" in result  # the caller's result is left as it was


def test_kube_scheduler_gangs_are_pods_that_must_share_a_rack():
    pods = gang_pods(3, 4, batchyard=False)
    assert len(pods) == 12
    first = pods[0]
    assert first["spec"]["schedulerName"] == "default-scheduler"
    term = first["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": {"gang": "g000"}}, "topologyKey": RACK}


def test_batchyard_gangs_are_pod_groups_with_a_required_rack():
    pods = gang_pods(2, 32, batchyard=True)
    first = pods[0]["metadata"]
    assert pods[0]["spec"]["schedulerName"] == "batchyard"
    assert first["labels"] == {"batchyard.dev/queue": "default", "batchyard.dev/pod-group": "g000"}
    assert first["annotations"] == {"batchyard.dev/pod-group-total-count": "32",
                                    "kueue.x-k8s.io/podset-required-topology": RACK}
    assert {p["metadata"]["labels"]["batchyard.dev/pod-group"] for p in pods} == {"g000", "g001"}


def test_basic_pods_are_scheduler_perf_shaped_and_only_batchyards_are_queued():
    ours, theirs = basic_pods(3, True), basic_pods(3, False)
    assert [p["spec"]["containers"][0]["resources"]["requests"] for p in ours] == \
        [{"cpu": "100m", "memory": "500Mi"}] * 3
    assert ours[0]["metadata"]["labels"] == {"batchyard.dev/queue": "default"}
    assert theirs[0]["metadata"]["labels"] == {} and theirs[0]["spec"]["schedulerName"] == "default-scheduler"


def test_gang_pods_are_counted_by_gang_whatever_the_phase_prefix():
    from types import SimpleNamespace

    from benchmarks.kube_vs import _gangs
    names = [p["metadata"]["name"] for p in gang_pods(2, 3, batchyard=False, phase="kg")]
    assert names[:2] == ["kg-g000-00", "kg-g000-01"]
    watch = SimpleNamespace(bound={name: "n1" for name in names[:5]} | {"b-00001": "n2"})
    assert _gangs(watch) == {"g000": 3, "g001": 2}


def test_a_one_side_run_leaves_the_recorded_ratio_as_it_was(monkeypatch):
    written = []
    monkeypatch.setattr(kube_vs, "write_result", lambda *args, **kw: written.append(args) or {"value": args[1]})
    run = {"nodes": 1000, "batchyard": {"pods_per_s": 96.0}, "kube_scheduler_tuned": {"pods_per_s": 480.0}}
    one_side = recorded([run], 2000, {"batchyard"})
    assert one_side["value"] is None and one_side["only"] == ["batchyard"] and written == []
    assert recorded([run], 2000, {"batchyard", "kube-scheduler"})["value"] == 0.2
    assert written[0][0] == "kube_vs_scheduler"


def test_the_bind_watch_times_the_first_and_last_bind_of_a_phase(monkeypatch):
    clock = iter([10.0, 11.0, 12.5])
    monkeypatch.setattr(kube_vs.time, "monotonic", lambda: next(clock))
    watch = kube_vs.BindWatch.__new__(kube_vs.BindWatch)
    watch.bound, watch.pods, watch.first_bind, watch.last_bind = {}, set(), 0.0, 0.0

    def pod(name, node=None):
        return {"metadata": {"name": name}, "spec": {"nodeName": node} if node else {}}

    watch.changed("ADDED", pod("a"))  # pending: no bind
    watch.changed("MODIFIED", pod("a", "n1"))
    watch.changed("MODIFIED", pod("a", "n1"))  # the same bind seen again is not a new one
    watch.changed("MODIFIED", pod("b", "n2"))
    watch.changed("MODIFIED", pod("c", "n2"))
    assert (watch.first_bind, watch.last_bind, len(watch.bound)) == (10.0, 12.5, 3)
