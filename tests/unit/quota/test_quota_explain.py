"""Queue positions read as English ordinals (the WorkloadPending message and `batchyard queues`)."""

from __future__ import annotations

import pytest

from libs.quota.explain import describe_position, ordinal


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                         (13, "13th"), (21, "21st"), (22, "22nd"), (101, "101st"), (111, "111th"),
                                         (112, "112th"), (113, "113th"), (123, "123rd")])
def test_ordinals(n: int, text: str) -> None:
    assert ordinal(n) == text


def test_a_pending_position_names_its_queue_and_why() -> None:
    assert describe_position(112, "team-a-cq", None) == "112th in team-a-cq"
    assert describe_position(1, "cq", "the head waits for GPUs") == "1st in cq; the head waits for GPUs"
