"""Quota's Kueue-named counters: a preemption victim counted once, the wait measured from a requeue, and nothing
counted before the deciding transaction commits."""

from __future__ import annotations

from types import SimpleNamespace

from libs.quota import Admitted, CycleResult, Preempting, Reason, Target
from services.quota.metrics import QuotaMetrics


class Uow:
    def __init__(self) -> None:
        self.hooks = []

    def after_commit(self, hook) -> None:
        self.hooks.append(hook)

    def commit(self) -> None:
        for hook in self.hooks:
            hook()


class Engine(SimpleNamespace):
    def where(self, wid: str):
        return "reserved" if wid in self.reservations else "pending" if wid in self.pending_ids else None


def recorder():
    counted = {"waits": [], "victims": [], "evictions": []}
    m = QuotaMetrics(lambda: None)
    m._count = lambda waits, victims, evictions, by=1: [counted[k].extend(v) for k, v in
                                                        (("waits", waits), ("victims", victims),
                                                         ("evictions", evictions))]
    return m, counted


def preempting(*victims: str) -> CycleResult:
    return CycleResult(preempting=(Preempting("hi", "acme-nlp", tuple(
        Target(v, "acme-vision", Reason.PREEMPTED_RECLAIM) for v in victims)),))


def test_a_victim_is_counted_once_while_its_eviction_is_pending_and_again_if_preempted_later():
    m, counted = recorder()
    engine = Engine(reservations={}, pending_ids=set(), evicting={"v1"})
    for _ in range(3):  # the preemptor waits for its victim over several cycles
        uow = Uow()
        m.cycled(uow, preempting("v1"), engine, 10.0)
        uow.commit()
    engine.evicting = set()  # evicted
    uow = Uow()
    m.cycled(uow, CycleResult(), engine, 11.0)
    engine.evicting = {"v1"}
    m.cycled(uow, preempting("v1"), engine, 12.0)
    uow.commit()
    assert counted["victims"] == [("acme-nlp", "InCohortReclamation")] * 2


def test_nothing_is_counted_before_commit():
    m, counted = recorder()
    uow = Uow()
    m.cycled(uow, preempting("v1"), Engine(reservations={}, pending_ids=set(), evicting={"v1"}), 1.0)
    m.evicted(uow, "w", "acme-vision", "preempted", 1.0)
    assert counted == {"waits": [], "victims": [], "evictions": []}
    uow.commit()
    assert counted["evictions"] == [("acme-vision", "Preempted")]  # the connector's reason in Kueue's words


def test_the_admission_wait_runs_from_the_requeue_after_an_eviction():
    m, counted = recorder()
    workload = SimpleNamespace(created_at=100.0)
    engine = Engine(reservations={"w": SimpleNamespace(workload=workload)}, pending_ids={"w"}, evicting=set())
    uow = Uow()
    m.evicted(uow, "w", "acme-vision", "node-drain", 500.0)
    m.cycled(uow, CycleResult(admitted=(Admitted("w", "acme-vision", None, False),)), engine, 530.0)
    uow.commit()
    assert counted["waits"] == [("acme-vision", 30.0)]
    assert counted["evictions"] == [("acme-vision", "node-drain")]
