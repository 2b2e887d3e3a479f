"""benchmarks.e2e_load's pure parts: percentiles, the timetable, arguments, CPU by process tree."""

import os

import pytest

from benchmarks import e2e_load
from libs.events import decode


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert e2e_load.percentile(values, 0.5) == 50
    assert e2e_load.percentile(values, 0.99) == 99
    assert e2e_load.percentile(values, 1.0) == 100
    assert e2e_load.percentile([7], 0.99) == 7
    assert e2e_load.percentile([], 0.5) is None


def test_timetable_spaces_signed_submissions_at_the_rate():
    table = e2e_load.timetable(200, 0.05, "t")
    assert [round(offset, 3) for offset, *_ in table] == [0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04,
                                                          0.045]
    ids = [wid for _, wid, _, _ in table]
    assert len(set(ids)) == len(ids)
    event = decode(table[0][2])
    assert event.type == "WorkloadSubmitted" and event.workload_id == ids[0] and event.token
    assert {event.tenant.team for event in (decode(v) for _, _, v, _ in table[:3])} == {"vision", "nlp", "research"}


@pytest.mark.parametrize("argv", [["--rates", "0"], ["--rates", ""], ["--duration", "-1"], ["--processes", "0"],
                                  ["--rates", "abc"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit) as exc:
        e2e_load.parse_args(argv)
    assert exc.value.code == 2


def test_defaults_are_the_issue_s_rates_and_process_counts():
    args = e2e_load.parse_args([])
    assert args.rates == [100, 500, 1000, 2000] and args.duration == 60 and args.processes == [1, 2]


def test_cpu_of_a_process_tree_includes_this_process():
    before = e2e_load.tree_cpu_seconds({"me": os.getpid(), "nobody": 2 ** 22 + 7})
    sum(i * i for i in range(2_000_000))
    after = e2e_load.tree_cpu_seconds({"me": os.getpid()})
    assert after["me"] > before["me"] > 0 and before["nobody"] == 0
