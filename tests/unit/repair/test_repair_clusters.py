"""Cluster reachability (libs/repair/clusters.py): silence past the grace is a partition; a reachable report ends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from libs.repair.clusters import ClusterReach, ClusterReport, excused, heard, judge

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def fold(*reports: ClusterReport) -> dict[str, ClusterReach]:
    state: dict[str, ClusterReach] = {}
    for r in reports:
        state[r.cluster] = heard(state.get(r.cluster), r)
    return state


def test_a_cluster_silent_past_the_grace_is_unreachable_once_and_back_on_the_next_reachable_report():
    state = fold(ClusterReport("aws", at(0), True), ClusterReport("gcp", at(0), True),
                 ClusterReport("gcp", at(50), True))
    state, changes = judge(state, at(60), GRACE)
    assert changes == []
    state, changes = judge(state, at(61), GRACE)
    assert [(c.cluster, c.reachable, c.since) for c in changes] == [("aws", False, at(0))]
    assert "no report that reached its API server for 61 s" in changes[0].message
    state, changes = judge(state, at(90), GRACE)
    assert changes == [] and not state["aws"].reachable  # judged once
    state["aws"] = heard(state["aws"], ClusterReport("aws", at(95), True))
    state, changes = judge(state, at(96), GRACE)
    assert [(c.cluster, c.reachable, c.since) for c in changes] == [("aws", True, at(95))]
    assert changes[0].message == "reached again after 95 s"
    assert state["aws"].reachable


def test_failure_reports_do_not_keep_a_cluster_alive_and_their_error_is_the_reason():
    state = fold(ClusterReport("aws", at(0), True),
                 *(ClusterReport("aws", at(s), False, "GET /readyz: connection refused") for s in range(10, 70, 10)))
    _, changes = judge(state, at(61), GRACE)
    assert len(changes) == 1 and not changes[0].reachable
    assert changes[0].message.endswith("its connector says: GET /readyz: connection refused")


def test_a_cluster_that_never_reached_its_api_server_is_unreachable_a_grace_after_its_first_report():
    state = fold(ClusterReport("aws", at(0), False, "x509: unknown authority"),
                 ClusterReport("aws", at(30), False, "x509: unknown authority"))
    assert judge(state, at(60), GRACE)[1] == []
    _, changes = judge(state, at(61), GRACE)
    assert [(c.reachable, c.since) for c in changes] == [(False, at(0))]


def test_a_late_reachable_report_older_than_the_judgement_does_not_bring_it_back():
    state, _ = judge(fold(ClusterReport("aws", at(0), True)), at(100), GRACE)
    state["aws"] = heard(state["aws"], ClusterReport("aws", at(-5), True))  # redelivered, older
    state, changes = judge(state, at(101), GRACE)
    assert changes == [] and not state["aws"].reachable


def test_excused_clusters_count_as_heard_now_but_an_unreachable_one_stays_unreachable():
    state, _ = judge(fold(ClusterReport("aws", at(0), True), ClusterReport("gcp", at(90), True)), at(100), GRACE)
    state = excused(state, at(500))
    assert state["gcp"].last_reachable == at(500)
    assert not state["aws"].reachable
    assert judge(state, at(520), GRACE)[1] == []


reports = st.lists(st.tuples(st.integers(0, 300), st.booleans()), max_size=30)


@given(reports, st.integers(0, 400))
def test_judged_unreachable_exactly_when_no_reachable_report_within_the_grace(history, now_s):
    """After one judgement at ``now``, the cluster is unreachable iff the newest reachable report (or, with none,
    the first report) is more than the grace old, whatever the order the reports arrived in."""
    heard_so_far = [(s, ok) for s, ok in history if s <= now_s]
    if not heard_so_far:
        return
    state = fold(*(ClusterReport("c", at(s), ok, "err") for s, ok in heard_so_far))
    state, changes = judge(state, at(now_s), GRACE)
    reachable_times = [s for s, ok in heard_so_far if ok]
    since = max(reachable_times) if reachable_times else min(s for s, _ in heard_so_far)
    expect_unreachable = now_s - since > GRACE.total_seconds()
    assert state["c"].reachable is not expect_unreachable
    assert [c.reachable for c in changes] == ([False] if expect_unreachable else [])
    if expect_unreachable:
        assert changes[0].since == at(since)


@given(reports, reports)
def test_reachable_again_only_on_a_reachable_report_newer_than_the_judgement(before, after):
    state = fold(*(ClusterReport("c", at(s), ok) for s, ok in before)) or {"c": ClusterReach("c", first_heard=T0)}
    state, _ = judge(state, at(1000), GRACE)  # long silence: unreachable
    assert not state["c"].reachable
    since = state["c"].unreachable_since
    for s, ok in after:
        state["c"] = heard(state["c"], ClusterReport("c", at(s), ok))
    state, changes = judge(state, at(1000), GRACE)
    back = any(ok and at(s) > since for s, ok in after)
    assert state["c"].reachable is back
    assert [c.reachable for c in changes] == ([True] if back else [])
