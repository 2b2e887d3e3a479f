"""Trace readers: Philly, Alibaba openb and job YAML, including malformed rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.replay.readers import philly_gang, read_philly
from libs.replay.readers_alibaba import read_alibaba
from libs.replay.readers_yaml import read_jobs_yaml
from libs.replay.trace import TraceError

PHILLY = """timestamp,duration,num_gpus,gpu_time,cluster
2017-10-09 07:00:00,100.0,1,100.0,vc1
2017-10-09 07:00:10,50.0,16,800.0,vc2
not-a-time,10.0,1,10.0,vc1
2017-10-09 07:00:20,abc,1,0,vc1
2017-10-09 07:00:30,-5,1,0,vc1
2017-10-09 07:00:40,10.0,0,0,vc1
2017-10-09 07:00:50,10.0,1.5,0,vc1
2017-10-09 07:01:00,10.0,2,20,

2017-10-09 07:01:10,30.0,4,120,vcx
"""


@pytest.fixture
def philly_dir(tmp_path: Path) -> Path:
    (tmp_path / "philly.csv").write_text(PHILLY)
    (tmp_path / "philly_vc.csv").write_text("vc,node num\nvc1,2\nvc2,4\n")
    return tmp_path


def test_philly_skips_bad_rows_with_counted_reasons(philly_dir: Path) -> None:
    trace = read_philly(philly_dir)
    assert [j.team for j in trace.jobs] == ["vc1", "vc2", "vcx"]
    assert trace.report.rows == 9 and trace.report.kept == 3
    assert trace.report.skipped == {"bad_timestamp": 1, "bad_duration": 1, "non_positive_duration": 1,
                                    "bad_num_gpus": 2, "missing_cluster": 1}


def test_philly_times_are_relative_and_vcs_are_teams(philly_dir: Path) -> None:
    trace = read_philly(philly_dir)
    assert [j.arrival for j in trace.jobs] == [0.0, 10.0, 70.0]
    assert trace.team_gpus == {"vc1": 16, "vc2": 32, "vcx": 8}
    assert any("vcx" in note for note in trace.report.notes)


def test_missing_trace_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="not found"):
        read_philly(tmp_path / "nowhere")


@pytest.mark.parametrize(("gpus", "pods", "per_pod"), [(1, 1, 1), (8, 1, 8), (12, 2, 6), (16, 2, 8), (24, 3, 8),
                                                      (128, 16, 8)], ids=lambda v: str(v))
def test_philly_gangs_split_into_pods_of_at_most_a_node(gpus: int, pods: int, per_pod: int) -> None:
    (ps,) = philly_gang(gpus, 1000, 1024)
    assert (ps.count, ps.gpus) == (pods, per_pod)


def test_alibaba_reads_pods_and_nodes_and_skips_bad_rows(tmp_path: Path) -> None:
    head = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
    (tmp_path / "openb_pod_list_default.csv").write_text(
        head + "p0,1000,1024,1,500,,LS,Running,100,400,150\n"
        "p1,x,1024,1,500,,LS,Running,100,400,150\n"
        "p2,1000,1024,2,500,,BE,Running,100,400,150\n"
        "p3,1000,1024,0,0,,BE,Running,200,200,\n"
        "p4,2000,1024,2,1000,V100M16|V100M32,BE,Pending,300,900,\n")
    (tmp_path / "openb_node_list_gpu_node.csv").write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,8,V100M16\n")
    trace = read_alibaba(tmp_path)
    assert [(j.id, j.arrival, j.duration) for j in trace.jobs] == [("p0", 0.0, 250.0), ("p4", 200.0, 600.0)]
    assert trace.jobs[1].pod_sets[0].gpu_models == ("V100M16", "V100M32")
    assert trace.report.skipped == {"bad_number": 1, "bad_request": 1, "non_positive_duration": 1}
    assert trace.fleet_nodes[0]["gpus"] == 8


def test_job_yaml_reads_workload_specs_and_counts_invalid_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("""
- {team: vision, arrival: 5, name: train, duration_s: 100,
   pod_sets: [{name: w, count: 2, requests: {gpu: 4, cpu_milli: 8000}}]}
- {team: nlp, arrival: 0, name: infer, pod_sets: [{name: w, count: 1, requests: {gpu_milli: 500}}]}
- {team: nlp, arrival: -1, name: bad, pod_sets: [{name: w, count: 1}]}
- {arrival: 1, name: noteam, pod_sets: [{name: w, count: 1}]}
- {team: nlp, name: "Bad Name!", pod_sets: [{name: w, count: 1}]}
- just a string
""")
    trace = read_jobs_yaml(path, team_gpus={"vision": 16})
    assert [j.team for j in trace.jobs] == ["nlp", "vision"]
    assert trace.jobs[0].pod_sets[0].gpu_milli == 500 and trace.jobs[1].gpus == 8
    assert trace.report.skipped == {"bad_arrival": 1, "missing_team": 1, "invalid_job": 1, "not_a_mapping": 1}
    assert trace.team_gpus["vision"] == 16
