"""Which failed runs are retried (the rule the runners apply and every service reads from ``final``)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from libs.events import WorkloadFailed, WorkloadSucceeded, decode, encode, ends_workload, failure, retried
from libs.events.workload import MAX_BACKOFF_LIMIT, RETRIED_REASONS

REASONS = st.sampled_from(sorted(RETRIED_REASONS | {"cancelled", "deleted", "evicted", "oom"}))


@given(reason=REASONS, failures=st.integers(0, MAX_BACKOFF_LIMIT + 5), limit=st.integers(0, MAX_BACKOFF_LIMIT))
def test_a_pod_failure_is_retried_while_the_failed_runs_are_within_the_limit(reason, failures, limit):
    event = failure(reason, "m" * 3000, cluster="c", failures=failures, backoff_limit=limit)
    assert event.attempt == failures + 1 and len(event.message) == 2000
    assert event.final is not (reason == "pod-failed" and failures < limit)
    assert ends_workload(event) is event.final
    assert decode(encode(event)) == event


def test_limit_zero_makes_the_first_failure_final_and_limit_two_retries_two():
    assert [retried("pod-failed", n, 0) for n in (1, 2)] == [False, False]
    assert [retried("pod-failed", n, 2) for n in (1, 2, 3)] == [True, True, False]
    assert not retried("cancelled", 1, 5)


def test_a_failure_written_before_retries_existed_reads_as_final():
    old = json.loads(encode(WorkloadFailed(workload_id="w", cluster="c", reason="pod-failed")))
    del old["attempt"], old["final"]
    event = decode(json.dumps(old).encode())
    assert (event.attempt, event.final, ends_workload(event)) == (1, True, True)
    assert ends_workload(WorkloadSucceeded(workload_id="w", cluster="c"))
