"""A workload's timeline in the web view: the describe read model as JSON, and every way the view refuses to show
one (a bad id, an unknown or another team's workload, a scope that may not read it, a platform not ready), each with
its HTTP status and reason code, never a traceback. The app is called as ASGI directly: no server, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cli.reads import ReadRefused
from cli.ui.app import UiConfig, create_app
from cli.ui.params import WORKLOAD_ID, BadParameter, parse_workload_id
from cli.ui.timeline import timeline_json
from cli.workloads_view import step_line
from libs.readmodel import Step, Waiting, WorkloadDetail, WorkloadSummary

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def detail(wid: str = "v1") -> WorkloadDetail:
    summary = WorkloadSummary(workload_id=wid, org="acme", team="vision", name="job-" + wid, kind="pytorch",
                              local_queue="default", cluster_queue="vision-cq", state="running", outcome=None,
                              priority=0, flavors=("a100-onprem",), cluster="onprem-dc1", position=None,
                              submitted_at=T0, cost_micros=2_500_000, attempts=1)
    steps = (Step("submitted", "admission", T0, facts={"queue": "default", "by": "ci@test"}),
             Step("reserved", "quota", T0 + timedelta(seconds=1), facts={"cluster_queue": "vision-cq",
                                                                           "flavors": {"train": ("a100-onprem",)}}),
             Step("placed", "scheduler", T0 + timedelta(seconds=2), facts={"cluster": "onprem-dc1",
                                                                             "nodes": ["n-01", "n-02"]}),
             Step("running", "sim-fleet", T0 + timedelta(seconds=3), facts={"cluster": "onprem-dc1"}))
    return WorkloadDetail(summary=summary, steps=steps, waiting=None, trace_id="ab" * 16,
                          pod_set_flavors={"train": ("a100-onprem",)})


class FakeReader:
    """Answers every read with ``answer``: a value, or an exception to raise."""

    def __init__(self, answer) -> None:
        self.answer, self.reads = answer, []

    async def run(self, schema, fn, *args, **kwargs):
        self.reads.append((schema, args))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    async def close(self) -> None:
        pass


async def get(reader, path: str, query: str = "", scope: str | None = "batchyard_team_acme_vision"):
    """Returns (status, headers, body) of GET ``path`` from the web view over ``reader``."""
    app = create_app(UiConfig(scope=scope, reader=reader))
    sent, received = [], []

    async def receive():  # the request, then the client goes away (a file response listens for that)
        received.append(1)
        return {"type": "http.request", "body": b"", "more_body": False} if len(received) == 1 else \
            {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
    await app({"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
               "http_version": "1.1", "method": "GET", "scheme": "http",
               "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query.encode(),
               "headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


async def test_the_timeline_is_describes_record_as_json_with_the_clis_words():
    reader = FakeReader(detail())
    status, _, body = await get(reader, "/api/workloads/v1")
    assert status == 200 and reader.reads == [("quota", ("v1",))]
    t = json.loads(body)
    assert t["workload"]["state_text"] == "running" and t["workload"]["cost"] == "2.500000"
    assert t["trace_id"] == "ab" * 16 and t["waiting"] is None
    assert [s["kind"] for s in t["steps"]] == ["submitted", "reserved", "placed", "running"]
    assert t["steps"][2]["nodes"] == ["n-01", "n-02"] and t["steps"][2]["at"] == "2026-12-05T12:00:02+00:00"
    assert [s["words"] for s in t["steps"]] == [step_line(s).split(None, 3)[3] for s in detail().steps]
    assert t["steps"][1]["facts"] == {"cluster_queue": "vision-cq", "flavors": {"train": ["a100-onprem"]}}


def test_a_waiting_workload_says_why_as_describe_does():
    waiting = Waiting("quota", "InsufficientQuota", "needs 8 GPUs", position=2, cluster_queue="vision-cq")
    t = timeline_json(WorkloadDetail(**{**detail().__dict__, "waiting": waiting}))
    assert t["waiting"]["words"] == "waiting (quota, 2nd in vision-cq): InsufficientQuota: needs 8 GPUs"


@pytest.mark.parametrize(("path", "query", "answer", "status", "reason"), [
    pytest.param("/api/workloads/nosuch", "", None, 404, "unknown_workload", id="unknown-or-another-teams"),
    pytest.param("/api/workloads/-x", "", detail(), 400, "bad_workload", id="not-an-id"),
    pytest.param("/api/workloads/" + "x" * 129, "", detail(), 400, "bad_workload", id="id-too-long"),
    pytest.param("/api/workloads/v1", "queue=a", detail(), 400, "unknown_parameter", id="query-parameter"),
    pytest.param("/api/workloads/v1", "", ReadRefused("permission_denied", "may not read", 1), 403,
                 "permission_denied", id="scope-may-not-read"),
    pytest.param("/api/workloads/v1", "", ReadRefused("not_ready", "quota has not created", 1), 503, "not_ready",
                 id="platform-not-ready"),
    pytest.param("/api/workloads/v1", "", ReadRefused("database_unreachable", "cannot reach", 1), 503,
                 "database_unreachable", id="database-down"),
    pytest.param("/events/workloads/nosuch", "", None, 404, "unknown_workload", id="events-of-unknown"),
    pytest.param("/events/workloads/v1", "", ReadRefused("permission_denied", "may not read", 1), 403,
                 "permission_denied", id="events-refused"),
])
async def test_a_timeline_the_view_cannot_show_is_refused_with_its_status_and_reason(path, query, answer, status,
                                                                                   reason):
    got, headers, body = await get(FakeReader(answer), path, query)
    assert got == status and headers["content-type"] == "application/json", body
    assert json.loads(body)["reason"] == reason


async def test_the_unknown_workloads_refusal_names_the_scope_and_never_says_whose_it_is():
    _, _, body = await get(FakeReader(None), "/api/workloads/g1", scope="batchyard_team_acme_vision")
    message = json.loads(body)["message"]
    assert "'g1'" in message and "batchyard_team_acme_vision" in message and "another team's" in message


@pytest.mark.parametrize(("path", "query", "answer", "status", "reason"), [
    pytest.param("/workloads/nosuch", "", None, 404, "unknown_workload", id="page-of-unknown"),
    pytest.param("/workloads/%3Cscript%3E", "", detail(), 400, "bad_workload", id="page-of-markup"),
    pytest.param("/workloads", "id=", detail(), 400, "bad_workload", id="look-up-nothing"),
    pytest.param("/workloads", "id=a%20b", detail(), 400, "bad_workload", id="look-up-a-space"),
])
async def test_a_page_that_cannot_show_is_a_short_html_page_with_the_reason(path, query, answer, status, reason):
    got, headers, body = await get(FakeReader(answer), path, query)
    text = body.decode()
    assert got == status and headers["content-type"].startswith("text/html"), text
    assert reason in text and "<script>" not in text and "Traceback" not in text


async def test_the_page_of_a_known_workload_loads_and_the_look_up_form_redirects_to_it():
    status, headers, body = await get(FakeReader(detail()), "/workloads/v1")
    assert status == 200 and b'src="/static/workload.js"' in body
    status, headers, _ = await get(FakeReader(detail()), "/workloads", "id=+v1+")
    assert (status, headers["location"]) == (303, "/workloads/v1")


async def test_a_platform_without_its_tables_is_not_ready_not_a_crash():
    from cli.ui.timeline import _describe

    class NoTables:
        async def fetch(self, *args):
            return []  # the catalog lists no table: no service has started yet
    with pytest.raises(ReadRefused) as refused:
        await _describe(NoTables(), "v1")
    assert refused.value.reason == "not_ready" and "quota" in str(refused.value)


def test_the_views_workload_id_is_admissions():
    from libs.admission.spec import WORKLOAD_ID as ADMITTED_ID
    assert WORKLOAD_ID.pattern == ADMITTED_ID
    assert parse_workload_id(" train-7.b_2 ") == "train-7.b_2"
    with pytest.raises(BadParameter):
        parse_workload_id("a\nb")
