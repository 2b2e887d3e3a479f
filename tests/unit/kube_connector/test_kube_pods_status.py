"""Pods of a placement land where they were placed and no more of them than were placed; status conditions change
their transition time only when they flip."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from services.kube_connector import status
from services.kube_connector.kinds import KINDS
from services.kube_connector.pods import batchjob_pod, bindings, pod_name


def assignment(pod_set: str, index: int, node: str) -> dict:
    return {"pod_set": pod_set, "index": index, "node_id": f"c1/{node}", "gpus": []}


def job_pod(name: str, index: int | None = None, node: str | None = None, phase: str = "Pending") -> dict:
    annotations = {"batch.kubernetes.io/job-completion-index": str(index)} if index is not None else {}
    return {"metadata": {"name": name, "annotations": annotations, "labels": {},
                         "ownerReferences": [{"kind": "Job", "name": "j", "controller": True}]},
            "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}


def test_an_indexed_pod_goes_to_its_own_index_node():
    placed = [assignment("main", 0, "n0"), assignment("main", 1, "n1"), assignment("main", 2, "n2")]
    got = bindings(KINDS["Job"], placed, [job_pod("b", 2), job_pod("a", 0)])
    assert sorted((p["metadata"]["name"], node) for p, node in got) == [("a", "n0"), ("b", "n2")]


def test_pods_already_bound_hold_their_places_and_ended_pods_hold_none():
    placed = [assignment("main", 0, "n0"), assignment("main", 1, "n0")]
    running = job_pod("r", node="n0", phase="Running")
    failed = job_pod("f", node="n0", phase="Failed")
    got = bindings(KINDS["Job"], placed, [running, failed, job_pod("new1"), job_pod("new2")])
    assert len(got) == 1 and got[0][1] == "n0", "the failed pod's place is free again, the running one's is not"


def test_a_batchjob_pod_is_owned_by_its_batchjob_and_named_by_its_attempt():
    meta = {"name": "train", "namespace": "nlp", "uid": "u1"}
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}], "nodeName": "cheat"}}
    pod = batchjob_pod(meta, template, {"pod_set": "w", "index": 3, "gpus": [0, 1]}, attempt=2,
                       workload_label="wid", scheduler_name="batchyard")
    assert pod["metadata"]["name"] == "train-w-3-a2" == pod_name("train", "w", 3, 2)
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert "nodeName" not in pod["spec"] and pod["spec"]["schedulerName"] == "batchyard"
    assert pod["metadata"]["annotations"]["batchyard.dev/gpus"] == "0,1"
    assert KINDS["BatchJob"].owner_of(pod) == "train"
    assert len(pod_name("x" * 250, "w", 1, 1)) <= 253


@settings(max_examples=200, deadline=None)
@given(places=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["n0", "n1", "n2"])), min_size=1,
                       max_size=12),
       pods=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.none() | st.sampled_from(["n0", "n1", "n9"]),
                               st.sampled_from(["Pending", "Running", "Succeeded", "Failed"])), max_size=20))
def test_never_more_live_pods_on_a_node_than_were_placed_there(places, pods):
    placed = [assignment(ps, i, node) for i, (ps, node) in enumerate(places)]
    objs = [{"metadata": {"name": f"p{i}", "labels": {"ray.io/originated-from-crd": "RayJob",
                                                      "ray.io/originated-from-cr-name": "r", "ray.io/group": ps}},
             "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}
            for i, (ps, node, phase) in enumerate(pods)]
    got = bindings(KINDS["RayJob"], placed, objs)
    capacity = Counter((a["pod_set"], a["node_id"].split("/")[1]) for a in placed)
    held = Counter((o["metadata"]["labels"]["ray.io/group"], o["spec"]["nodeName"]) for o in objs
                   if o["spec"].get("nodeName") and o["status"]["phase"] in ("Pending", "Running"))
    new = Counter((p["metadata"]["labels"]["ray.io/group"], node) for p, node in got)
    for key, count in new.items():
        assert count + min(held[key], capacity[key]) <= capacity[key]
    assert all(not p["spec"].get("nodeName") for p, _ in got), "a bound pod is never bound again"


def test_conditions_keep_their_transition_time_unless_they_flip():
    s1 = status.advance({}, status.quota_reserved("cq", "main: f"), now="t1", workload_id="w")
    s2 = status.advance(s1, status.admitted(4, 2, 1), now="t2", workload_id="w")
    s3 = status.advance(s2, status.running(4), now="t3", workload_id="w")
    times = {c["type"]: c["lastTransitionTime"] for c in s3["conditions"]}
    assert times == {"QuotaReserved": "t1", "Admitted": "t2", "Running": "t3", "Evicted": "t1"}
    assert s3["state"] == "Running" and s3["workloadId"] == "w"
    evicted = status.advance(s3, status.evicted("node-drain", "drained"), now="t4", workload_id="w")
    assert {c["type"]: c["status"] for c in evicted["conditions"]}["QuotaReserved"] == "False"
    assert evicted["reason"] == "NodeDrain" and status.notice(status.evicted("node-drain", "x"))["type"] == "Warning"


def test_reason_codes_become_kubernetes_condition_reasons():
    assert status.camel("never-fits") == "NeverFits" and status.camel("quota_exhausted") == "QuotaExhausted"
    assert status.camel("") == "Unknown" and status.camel("42") == "R42"
