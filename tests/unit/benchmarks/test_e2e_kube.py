"""benchmarks.e2e_kube's pure parts: the objects it creates, its arguments, and how one rate's figures are made
from creation times and what the tracker saw on Kafka."""

import pytest

from benchmarks import e2e_kube
from benchmarks.e2e_load import Tracker


def test_objects_are_one_pod_batchjobs_of_the_steady_shape_the_teams_taking_turns():
    items = e2e_kube.objects(4, "t")
    assert [o["metadata"]["name"] for o in items] == ["t-000000", "t-000001", "t-000002", "t-000003"]
    assert [o["metadata"]["namespace"] for o in items] == ["vision", "nlp", "research", "vision"]
    pod_sets = items[0]["spec"]["podSets"]
    assert items[0]["kind"] == "BatchJob" and len(pod_sets) == 1 and pod_sets[0]["count"] == 1


@pytest.mark.parametrize("argv", [["--rates", "0"], ["--rates", ""], ["--duration", "0"], ["--rates", "x"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit) as exc:
        e2e_kube.parse_args(argv)
    assert exc.value.code == 2


def test_defaults_are_the_rates_recorded_in_the_docs():
    args = e2e_kube.parse_args([])
    assert args.rates == [10, 25, 50] and args.duration == 60


def test_a_rate_is_sustained_only_if_nearly_all_run_soon_after_the_last_creation():
    created = {f"w{i}": float(i) for i in range(100)}  # one a second from t=0; the last created at 99
    tracker = Tracker("unused", "unused")
    for w, at in created.items():
        tracker.placed[w], tracker.running[w], tracker.finished[w] = at + 0.1, at + 0.5, at + 0.6
    step = e2e_kube.step_summary(1, created, [], tracker, 0.0, 99.0, {"kube-connector": 2.0}, {"quota": [0, 3]},
                                 0.5)
    assert step["sustained"] and step["running_within_5s_of_last_create"] == 1.0
    assert step["create_to_running_ms"] == {"p50": 500.0, "p95": 500.0, "p99": 500.0}
    assert step["cpu_us_per_workload"] == {"kube-connector": 20000}
    assert step["consumer_lag"] == {"quota": {"max": 3, "mean": 1.5}}

    for w in ("w97", "w98"):  # two of 100 run 10 s late: 98 % on time, p99 10 s
        tracker.running[w] = created[w] + 10
    late = e2e_kube.step_summary(1, created, ["x: 422 Invalid"], tracker, 0.0, 99.0, {}, {}, 0.5)
    assert not late["sustained"] and late["running_within_5s_of_last_create"] == 0.98
    assert late["refused_creates"] == 1 and late["refused_sample"] == ["x: 422 Invalid"]


def test_nothing_created_is_not_sustained():
    step = e2e_kube.step_summary(5, {}, ["all refused"], Tracker("u", "u"), 0.0, 1.0, {}, {}, 0.1)
    assert not step["sustained"] and step["workloads"] == 0 and step["create_to_running_ms"]["p99"] is None
