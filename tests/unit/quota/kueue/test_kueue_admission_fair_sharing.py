"""Kueue's admission fair sharing (KEP-4136): within a cluster queue, the local queue that used
less lately goes first.

Cases replay test/integration/singlecluster/scheduler/fairsharing/fair_sharing_test.go, "Using
AdmissionFairSharing at ClusterQueue level" (cq1: 8 CPUs, three local queues of weight 1),
with a one-second half-life and sampling interval as upstream's suite sets them. The formulas
are checked on their own against the KEP (keps/4136-admission-fair-sharing).
"""

from __future__ import annotations

import math

import pytest
from kueue_driver import Driver, admitted, cq, targets, wl

from libs.quota import AdmissionFairSharing, QuotaConfig
from libs.quota.afs import AdmissionUsage, alpha
from libs.quota.config import LocalQueue

SOURCE = "test/integration/singlecluster/scheduler/fairsharing/fair_sharing_test.go"
FAST = AdmissionFairSharing(half_life_seconds=1.0, sampling_seconds=1.0)


def cq1(weights=(1.0, 1.0, 1.0)) -> Driver:
    lqs = tuple(LocalQueue("default", f"lq-{x}", "cq1", fair_weight=w) for x, w in zip("abc", weights))
    return Driver((cq("cq1", afs=True, flavors=[("default", {"cpu": 8})]),), local_queues=lqs,
                  config_kw={"admission_fair_sharing": FAST})


def submit(d: Driver, *names_and_queues: tuple[str, str]) -> None:
    for i, (name, lq) in enumerate(names_and_queues):
        d.submit(wl(name, created=d.now + i / 100, cpu=4), lq)


def wait(d: Driver, cycles: int = 10) -> None:
    """Lets the history catch up with what is held (upstream waits with Eventually)."""
    for _ in range(cycles):
        d.cycle()


def saturate(d: Driver, *queues: str) -> list[str]:
    names = [f"initial-{i}" for i in range(len(queues))]
    submit(d, *zip(names, queues))
    d.settle()
    assert set(d.reserved()) == set(names)
    return names


def test_one_workload_from_each_local_queue():
    """Source: fair_sharing_test.go::Using AdmissionFairSharing at ClusterQueue level/admits one workload
    from each LocalQueue when quota is limited."""
    d = cq1()
    initial = saturate(d, "lq-a", "lq-b")
    submit(d, ("a1", "lq-a"), ("a2", "lq-a"), ("b1", "lq-b"), ("b2", "lq-b"))
    wait(d)
    assert d.engine.local_queue_usage(("default", "lq-a")) > 3.9 < d.engine.local_queue_usage(("default", "lq-b"))
    d.finish(*initial).settle()
    held = set(d.reserved())
    assert len(held & {"a1", "a2"}) == 1 and len(held & {"b1", "b2"}) == 1


def test_less_active_local_queue_first():
    """Source: fair_sharing_test.go::Using AdmissionFairSharing at ClusterQueue level/prioritizes workloads
    from less active LocalQueues to maintain fairness: lq-b's newer workload beats lq-a's older ones."""
    d = cq1()
    initial = saturate(d, "lq-a", "lq-a")
    submit(d, ("a1", "lq-a"), ("a2", "lq-a"), ("b1", "lq-b"))
    wait(d)
    assert d.engine.local_queue_usage(("default", "lq-a")) > 7.5
    assert d.engine.local_queue_usage(("default", "lq-b")) == 0
    d.finish(*initial)
    assert admitted(d.cycle()) == ["b1"]


def test_new_local_queue_first():
    """Source: fair_sharing_test.go::Using AdmissionFairSharing at ClusterQueue level/admits workload from
    new LocalQueue when all others have high usage."""
    d = cq1()
    initial = saturate(d, "lq-a", "lq-b")
    submit(d, ("a1", "lq-a"), ("a2", "lq-a"), ("b1", "lq-b"), ("b2", "lq-b"), ("c1", "lq-c"))
    d.cycle()
    d.finish(*initial)
    assert admitted(d.cycle()) == ["c1"]


def test_less_active_queues_after_release():
    """Source: fair_sharing_test.go::Using AdmissionFairSharing at ClusterQueue level/admits workloads from
    less active LocalQueues after quota is released: one from lq-b (then its entry penalty lets lq-c in)."""
    d = cq1()
    initial = saturate(d, "lq-a", "lq-a")
    submit(d, ("b1", "lq-b"), ("b2", "lq-b"), ("c1", "lq-c"))
    d.cycle()
    d.finish(*initial).settle()
    assert set(d.reserved()) == {"b1", "c1"}


def test_local_queue_weight_divides_usage():
    """KEP-4136 (LocalQueue fairSharing.weight): a queue with weight 4 and the same history as one with
    weight 1 counts a quarter of the usage, so it goes first."""
    d = cq1(weights=(1.0, 4.0, 1.0))
    saturate(d, "lq-a", "lq-b")
    wait(d)
    a, b = (d.engine.local_queue_usage(("default", q)) for q in ("lq-a", "lq-b"))
    assert b == pytest.approx(a / 4, rel=1e-3)


def test_disabled_queue_keeps_priority_order():
    """Without ``admissionScope`` on the cluster queue, the history is ignored: FIFO by creation."""
    lqs = (LocalQueue("default", "lq-a", "cq1"), LocalQueue("default", "lq-b", "cq1"))
    d = Driver((cq("cq1", flavors=[("default", {"cpu": 8})]),), local_queues=lqs,
               config_kw={"admission_fair_sharing": FAST})
    initial = saturate(d, "lq-a", "lq-a")
    submit(d, ("a1", "lq-a"), ("b1", "lq-b"))
    d.finish(*initial)
    assert admitted(d.cycle()) == ["a1"]


# -- the formulas -------------------------------------------------------------------------------


@pytest.mark.parametrize(("elapsed", "half_life", "want"), [(1, 1, 0.5), (2, 1, 0.75), (300, 7 * 86400, None),
                                                            (5, 0, 0.0)])
def test_alpha(elapsed, half_life, want):
    """KEP-4136: the newest sample weighs 1 - 0.5^(elapsed / halfLife); no half-life means no decay."""
    got = alpha(elapsed, half_life)
    assert got == pytest.approx(want if want is not None else 1 - math.pow(0.5, elapsed / half_life))


def test_decay_towards_current_usage_and_entry_penalty():
    """KEP-4136: consumed decays towards what is held now at each sample; every admission adds
    alpha(sampling) times its request at once, cleared by the next sample."""
    lq = ("default", "lq-a")
    config = QuotaConfig.build(local_queues=[LocalQueue(*lq, "cq1")], admission_fair_sharing=FAST)
    history = AdmissionUsage(FAST)
    history.sample(0.0, [])
    history.penalize(lq, {("default", "cpu"): 4000})
    assert history.usage(lq, config) == pytest.approx(2.0)
    assert history.sample(0.5, []) is False  # not yet a sampling interval
    history.consumed[lq] = {"cpu": 8.0}
    history.sample(1.0, [])
    assert history.usage(lq, config) == pytest.approx(4.0)  # half-way to 0, penalty dropped


def test_resource_weights():
    """KEP-4136 resourceWeights: usage is the weighted sum over resources (default weight 1)."""
    lq = ("default", "lq-a")
    settings = AdmissionFairSharing(1.0, 1.0, {"cpu": 2.0})
    config = QuotaConfig.build(local_queues=[LocalQueue(*lq, "cq1")], admission_fair_sharing=settings)
    history = AdmissionUsage(settings)
    history.consumed[lq] = {"cpu": 3.0, "memory": 10.0}
    assert history.usage(lq, config) == pytest.approx(16.0)


def test_history_survives_a_reload():
    """A hot reload keeps the history (only a restart of the service starts it from current usage)."""
    d = cq1()
    saturate(d, "lq-a", "lq-a")
    d.cycle()
    before = d.engine.local_queue_usage(("default", "lq-a"))
    d.reconfigure(d.queues)
    assert d.engine.local_queue_usage(("default", "lq-a")) == before > 0



@pytest.mark.parametrize(("afs", "victim"), [(True, "a1"), (False, "b1")])
def test_own_queue_victims_from_the_busier_local_queue_first(afs, victim):
    """KEP-4136 (preemption within a ClusterQueue under admission fair sharing): own-queue candidates of
    the local queue with the higher usage go first; without it, the most recently reserved goes first."""
    lqs = tuple(LocalQueue("default", f"lq-{x}", "cq1") for x in "abc")
    d = Driver((cq("cq1", within="LowerPriority", afs=afs, flavors=[("default", {"cpu": 8})]),), local_queues=lqs,
               config_kw={"admission_fair_sharing": FAST})
    d.running(wl("a1", cpu=6, queue="lq-a"), "cq1", at=10.0)
    d.running(wl("b1", cpu=2, queue="lq-b"), "cq1", at=20.0)
    d.submit(wl("preemptor", p=10, cpu=2), "lq-c")
    assert list(targets(d.cycle())) == [victim]
