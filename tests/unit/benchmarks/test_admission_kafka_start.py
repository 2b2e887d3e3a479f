"""``python -m benchmarks.admission_kafka`` starts cleanly on a freshly started broker: until the broker has a
group coordinator (its offsets topic is made on first use), describing the admission group means "not stable
yet", not a crash."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError, GroupLoadInProgressError, UnknownError

from benchmarks.admission_kafka import group_stable


class Broker:
    """An admin client whose broker answers with ``answers`` in turn (an exception is raised)."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)

    async def describe_consumer_groups(self, group_ids):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return [answer]


def described(state: str, members: int, error: int = 0):
    found = [(f"m{i}", "client", "host", b"", b"assignment") for i in range(members)]
    return SimpleNamespace(groups=[(error, "g", state, "consumer", "roundrobin", found, 0)])


async def test_a_fresh_broker_without_a_coordinator_is_not_stable_yet():
    broker = Broker(GroupCoordinatorNotAvailableError(), GroupLoadInProgressError(), described("Stable", 2))
    assert not await group_stable(broker, "g", 2)
    assert not await group_stable(broker, "g", 2)
    assert await group_stable(broker, "g", 2)


@pytest.mark.parametrize("answer", [described("PreparingRebalance", 2), described("Stable", 1),
                                    described("Stable", 2, error=15)], ids=["rebalancing", "one-member", "error-code"])
async def test_a_group_that_has_not_settled_is_not_stable(answer):
    assert not await group_stable(Broker(answer), "g", 2)


async def test_an_error_that_will_not_pass_is_raised():
    with pytest.raises(UnknownError):
        await group_stable(Broker(UnknownError()), "g", 2)
