"""A workload's priority changed while it waits or holds quota (Kueue's mutable workload priority): a pending
workload takes its new place in its queue, a reservation defends its quota with the new priority."""

from hypothesis import given, settings
from hypothesis import strategies as st
from quota_helpers import admit_now, admitted_ids, engine_of, run, submit, targets

from libs.quota.builders import make_cluster_queue, make_workload


def wl(name, cpu=1, created=0.0, priority=0):
    return make_workload(name).queue("cq").request(cpu=cpu).created(created).priority(priority).obj()


def one_at_a_time(engine, count):
    """Admits the queue's workloads one by one (quota for one at a time); returns their order."""
    order = []
    for now in range(count):
        order += admitted_ids(run(engine, now=now))
        for reserved in list(engine.reservations):
            engine.finish(reserved)
    return order


def test_a_raised_workload_goes_first():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj())
    submit(engine, wl("old", created=0), wl("mid", created=1), wl("late", created=2))
    assert engine.set_priority("late", 10, now=0) == "pending"
    assert one_at_a_time(engine, 3) == ["late", "old", "mid"]


def test_a_lowered_workload_loses_its_place():
    """The queue's heap still holds the lowered workload under its old key: that stale item must not put it
    first."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj())
    submit(engine, wl("urgent", created=0, priority=10), wl("normal", created=1, priority=5))
    engine.set_priority("urgent", 0, now=0)
    assert one_at_a_time(engine, 2) == ["normal", "urgent"]
    assert engine.pending_info("normal", now=0) is None


def test_the_new_priority_shows_in_the_position():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj())
    admit_now(engine, wl("running", created=0, priority=100))
    submit(engine, wl("a", created=1), wl("b", created=2))
    assert engine.pending_info("b", now=0).position == 2
    engine.set_priority("b", 1, now=0)
    assert engine.pending_info("b", now=0).position == 1


def test_a_reservation_lowered_becomes_a_victim():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).preemption(within="LowerPriority").obj())
    admit_now(engine, wl("running", cpu=4, priority=5))
    submit(engine, wl("incoming", cpu=4, priority=5, created=1))
    assert targets(run(engine, now=1)) == set()  # equal priority: spared
    assert engine.set_priority("running", 0, now=2) == "reserved"
    assert engine.reservations["running"].workload.priority == 0
    assert targets(run(engine, now=2)) == {"running"}


def test_a_reservation_raised_is_spared():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).preemption(within="LowerPriority").obj())
    admit_now(engine, wl("running", cpu=4, priority=0))
    engine.set_priority("running", 10, now=0)
    submit(engine, wl("incoming", cpu=4, priority=5, created=1))
    assert targets(run(engine, now=1)) == set()


def test_an_unknown_workload_is_not_held():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj())
    assert engine.set_priority("nosuch", 3, now=0) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.integers(-3, 3)), max_size=12))
def test_admission_order_follows_the_final_priorities(priorities, changes):
    """Whatever the changes, a queue admitting one at a time admits by final priority, then age."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj())
    final = dict(enumerate(priorities))
    submit(engine, *(wl(f"w{i}", created=i, priority=p) for i, p in final.items()))
    for index, priority in changes:
        if index in final:
            engine.set_priority(f"w{index}", priority, now=0)
            final[index] = priority
    expected = [f"w{i}" for i in sorted(final, key=lambda i: (-final[i], i))]
    assert one_at_a_time(engine, len(final)) == expected
