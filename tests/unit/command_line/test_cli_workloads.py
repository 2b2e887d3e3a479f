"""`batchyard workloads`: arguments refused in one line, the list's header row and cells, --watch's plain lines in a
pipe and its clean end on Ctrl-C, and describe's words (the data comes from tests/integration/test_workloads_cli)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli.workloads
from cli.main import app
from cli.workloads_view import HEADER, console, describe_lines, table
from cli.workloads_watch import watch
from libs.readmodel import STATES, Step, Waiting, WorkloadDetail, WorkloadSummary
from tests.unit.command_line.test_cli_failures import one_error_line

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def summary(wid="w1", state="pending", **kw) -> WorkloadSummary:
    fields = dict(workload_id=wid, org="acme", team="nlp", name="train-" + wid, kind="pytorch", local_queue="default",
                  cluster_queue="nlp-cq", state=state, outcome=None, priority=10, flavors=("a100-onprem",),
                  cluster=None, position=2, submitted_at=NOW - timedelta(minutes=3), cost_micros=1_500_000)
    return WorkloadSummary(**{**fields, **kw})


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda s: s not in STATES and "\x00" not in s))
def test_a_bad_state_is_refused_in_one_line(state):
    line = one_error_line(CliRunner().invoke(app, ["workloads", "list", "--state", state]), code=2)
    assert "--state" in line and "pending, running, suspended, finished, refused" in line


def render(workloads) -> list[str]:
    out = io.StringIO()
    console(out).print(table(workloads, NOW))
    return out.getvalue().splitlines()


def test_the_list_has_a_header_row_and_one_row_per_workload():
    header, pending, running = render([summary(), summary("w2", "running", position=None, cluster="onprem-dc1")])
    assert header.split() == ["ID", "NAME", "KIND", "TEAM", "QUEUE", "STATE", "PRIORITY", "FLAVOR/CLUSTER",
                              "POSITION", "AGE", "COST"] == [h for h in HEADER]
    assert pending.split() == ["w1", "train-w1", "pytorch", "acme/nlp", "nlp-cq", "pending", "10", "a100-onprem",
                               "2", "3m", "$1.500000"]
    assert running.split()[5:9] == ["running", "10", "a100-onprem/onprem-dc1", "-"]


def test_watch_in_a_pipe_prints_a_line_per_change_and_ends_cleanly_on_ctrl_c():
    snapshots = [[summary()], [summary(), summary("w2")], [summary(position=1), summary("w2")]]

    def fetch():
        if not snapshots:
            raise KeyboardInterrupt
        return snapshots.pop(0)
    out = io.StringIO()
    watch(fetch, console(out), 1.0, sleep=lambda _: None)
    lines = out.getvalue().splitlines()
    assert [line.split()[1:4] for line in lines] == [["w1", "pending", "queue=nlp-cq"], ["w2", "pending",
                                                                                           "queue=nlp-cq"],
                                                     ["w1", "pending", "queue=nlp-cq"]]
    assert "position=1" in lines[-1]


def test_watch_from_the_command_ends_with_exit_0_on_ctrl_c(monkeypatch):
    async def interrupted(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.workloads, "_read", interrupted)
    result = CliRunner().invoke(app, ["workloads", "list", "--team", "nlp", "--watch"])
    assert result.exit_code == 0 and result.output == "", result.output


def test_describe_says_who_holds_a_pending_workload_and_why():
    detail = WorkloadDetail(summary(cost_micros=0), steps=(
        Step("submitted", "admission", NOW, facts={"queue": "default", "by": "ci@acme"}),
        Step("reserved", "quota", NOW, facts={"cluster_queue": "nlp-cq", "flavors": {"train": ("a100-onprem",)}}),
        Step("unschedulable", "scheduler", NOW, "Unschedulable", "0/76 nodes: 40 lack H100, 12 cordoned")),
        waiting=Waiting("scheduler", "Unschedulable", "0/76 nodes: 40 lack H100, 12 cordoned",
                        cluster_queue="nlp-cq"), trace_id="4bf9", pod_set_flavors={"train": ("a100-onprem",)})
    text = "\n".join(describe_lines(detail, NOW))
    assert "waiting (scheduler): Unschedulable: 0/76 nodes: 40 lack H100, 12 cordoned" in text
    assert "quota reserved in cluster queue nlp-cq; flavors: train=a100-onprem" in text
    assert "trace: 4bf9" in text


def test_describe_of_a_refused_workload_says_why():
    s = summary(state="refused", name=None, kind=None, priority=None, flavors=(), position=None, cost_micros=0)
    refusal = Step("refused", "admission", NOW, "policy_violation", "privileged containers are not allowed",
                   rule="pod.privileged")
    text = "\n".join(describe_lines(WorkloadDetail(s, (refusal,), None, None, {}), NOW))
    assert "refused by admission: policy_violation [rule pod.privileged]: privileged containers" in text
    assert "quota has not seen" not in text


def test_requests_about_a_workload_read_as_words():
    from cli.workloads_view import step_line
    at = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    lines = [step_line(Step(kind, "admission", at, reason, "m", facts)) for kind, reason, facts in (
        ("priority-changed", None, {"by": "me@laptop", "priority_class": "high"}),
        ("priority-refused", "priority_class_not_allowed", {"priority_class": "critical"}),
        ("suspend-requested", None, {"by": "me@laptop"}), ("resume-refused", "workload_not_suspended", {}))]
    assert [line.split("admission", 1)[1].strip() for line in lines] == [
        "priority class changed to high by me@laptop",
        "priority change to critical refused (priority_class_not_allowed): m",
        "suspended by me@laptop", "resume refused (workload_not_suspended): m"]


def test_failed_runs_read_as_words_with_their_number():
    from cli.workloads_view import requeues_text, step_line
    at = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    retried = step_line(Step("retried", "sim-fleet", at, "pod-failed", "exit 1", {"cluster": "c1", "attempt": 1}))
    final = step_line(Step("failed", "sim-fleet", at, "pod-failed", "exit 1", {"cluster": "c1", "attempt": 2}))
    first = step_line(Step("failed", "sim-fleet", at, "pod-failed", "exit 1", {"cluster": "c1", "attempt": 1}))
    assert retried.endswith("run failed on c1 (pod-failed); failed run 1, retried: quota requeues it with backoff: "
                            "exit 1")
    assert final.endswith("failed on c1 (pod-failed), failed run 2: exit 1")
    assert first.endswith("failed on c1 (pod-failed): exit 1")
    assert requeues_text(summary(attempts=3, failures=2)) == ", 2 failed run(s) retried, 1 eviction(s) so far"
    assert requeues_text(summary(attempts=0, failures=0)) == ""
