"""The incremental operations a service calls, queueing strategies and visibility."""

import pytest
from quota_helpers import admit_now, admitted_ids, config_of, engine_of, run, run_until_quiet, submit

from libs.quota import QuotaError, Reason, Timing, Why
from libs.quota.builders import make_cluster_queue, make_cohort, make_workload


def wl(name, queue="cq", cpu=1, created=0.0, priority=0, gpu=None):
    b = make_workload(name).queue(queue).request(cpu=cpu).created(created).priority(priority)
    return (b.request(gpu=gpu) if gpu else b).obj()


@pytest.mark.parametrize(("strategy", "admitted"), [
    pytest.param("StrictFIFO", [], id="cluster_queue#queueing-strategy: StrictFIFO, the big head blocks"),
    pytest.param("BestEffortFIFO", ["small"], id="cluster_queue#queueing-strategy: BestEffortFIFO, small goes by"),
])
def test_queueing_strategy(strategy, admitted):
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).strategy(strategy).obj())
    submit(engine, wl("big", cpu=8), wl("small", cpu=1, created=1))
    assert admitted_ids(run(engine, cycles=3)) == admitted


def test_strict_fifo_explains_the_blocked_workload():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).strategy("StrictFIFO").obj())
    submit(engine, wl("big", cpu=8), wl("small", cpu=1, created=1))
    run(engine)
    info = engine.pending_info("small", now=0)
    assert info.position == 2 and info.reason is Reason.BLOCKED_BY_HEAD
    assert info.message.startswith("2nd in cq; StrictFIFO: blocked by big: cq at 0% of nominal CPU quota")


def test_priority_orders_the_queue_then_age():
    """cluster_queue#queueing-strategy: ordered by priority, then creation time."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj())
    submit(engine, wl("old-low", created=0, priority=0), wl("new-high", created=5, priority=10),
           wl("mid", created=1, priority=0))
    order = []
    for now in range(3):
        order += admitted_ids(run(engine, now=now))
        for r in list(engine.reservations):
            engine.finish(r)
    assert order == ["new-high", "old-low", "mid"]


def test_inadmissible_workload_gets_another_look_when_quota_frees():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=2).obj())
    admit_now(engine, wl("running", cpu=2))
    submit(engine, wl("waiting", cpu=2, created=1))
    assert run(engine).admitted == ()
    assert run(engine).pending == ()  # stepped aside: not a head until something changes
    engine.finish("running")
    assert admitted_ids(run(engine)) == ["waiting"]


def test_visibility_says_why_in_words():
    """The architecture's example sentence, from real numbers."""
    a = make_cluster_queue("team-a").cohort("org").flavor("h100", gpu=8).obj()
    b = make_cluster_queue("team-b").cohort("org").flavor("h100", gpu=4).obj()
    engine = engine_of(a, b)
    admit_now(engine, wl("a-run", "team-a", cpu=0, gpu=8), wl("b-run", "team-b", cpu=0, gpu=4))
    submit(engine, wl("a-next", "team-a", cpu=0, gpu=1, created=1), wl("a-later", "team-a", cpu=0, gpu=1, created=2))
    run(engine)
    info = engine.pending_info("a-next", now=0)
    # 1 GPU is within team-a's nominal 8, so Kueue calls it preemptible quota (no victim allowed), not NoFit
    assert info.reason is Reason.QUOTA_EXHAUSTED and info.position == 1
    assert info.message == ("1st in team-a; team-a at 100% of nominal GPU quota in h100 (8/8, needs 1); "
                            "cohort org has no lendable h100 GPU")
    assert engine.pending_info("a-later", now=0).position == 2


def test_pending_infos_of_a_whole_queue_equal_each_workloads_own():
    """A release into a full BestEffortFIFO queue wakes all its workloads and each steps aside: the service asks
    for all their infos at once (each queue ordered once; per workload, it was quadratic and stalled quota)."""
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=2).obj())
    admit_now(engine, *(wl(f"run-{i}", cpu=1) for i in range(2)))
    submit(engine, *(wl(f"wait-{i:03d}", cpu=1, created=1 + i) for i in range(200)), wl("lost", "nowhere"))
    engine.finish("run-0")
    stepped = []
    while (r := engine.run_cycle(0)).admitted or any(p.step_aside for p in r.pending):
        stepped += [p.workload_id for p in r.pending]
    ids = [*stepped, "lost", "run-1", "unknown"]
    infos = engine.pending_infos(ids, now=0)
    assert len(stepped) == 199 and set(infos) == {*stepped, "lost"}
    assert infos == {w: engine.pending_info(w, now=0) for w in infos}
    assert sorted(i.position for w, i in infos.items() if w != "lost") == list(range(1, 200))


def test_add_is_idempotent_and_a_second_reservation_is_refused():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).obj())
    w = wl("w")
    submit(engine, w, w)
    assert len(engine.pending["cq"]) == 1
    run(engine)
    assert engine.add_workload(w, 1).message == "already known (reserved)"
    with pytest.raises(QuotaError):
        engine.reserve(w, engine.reservations["w"].admission, 1)


def test_unknown_local_queue_waits_with_reason_until_config_adds_it():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).obj())
    submit(engine, wl("lost", queue="new-team"))
    info = engine.pending_info("lost", 0)
    assert info.reason is Reason.LOCAL_QUEUE_NOT_FOUND and info.position == 0
    bigger = config_of(make_cluster_queue("cq").flavor("default", cpu=4).obj(),
                       make_cluster_queue("new-team").flavor("default", cpu=4).obj())
    engine.apply_config(bigger, now=1)
    assert admitted_ids(run(engine, now=1)) == ["lost"]


def test_hot_reload_keeps_reservations_even_over_the_new_quota():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).obj())
    admit_now(engine, wl("a", cpu=3))
    submit(engine, wl("b", cpu=1, created=1), wl("c", cpu=1, created=2))
    engine.apply_config(config_of(make_cluster_queue("cq").flavor("default", cpu=2).obj()), now=1)
    assert set(engine.reservations) == {"a"}
    assert engine.tree.queues["cq"].usage == {("default", "cpu"): 3000}
    assert run(engine, now=1).admitted == ()
    engine.finish("a")
    assert run_until_quiet(engine, now=2) == ["b", "c"]


def test_hot_reload_keeps_backoff():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).obj(),
                       timing=Timing(backoff_base_seconds=100))
    admit_now(engine, wl("w"))
    engine.evict("w", Why(Reason.EVICTED, "node lost"), now=0)
    engine.apply_config(engine.config, now=1)
    assert run(engine, now=50).admitted == ()
    assert admitted_ids(run(engine, now=100)) == ["w"]


@pytest.mark.parametrize(("placed", "now", "expired"), [
    pytest.param(False, 59, False, id="waitForPodsReady: within the timeout"),
    pytest.param(False, 60, True, id="waitForPodsReady: timeout releases quota and requeues"),
    pytest.param(True, 600, False, id="waitForPodsReady: placed workloads are never expired"),
])
def test_wait_for_pods_ready(placed, now, expired):
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj(),
                       timing=Timing(pods_ready_timeout_seconds=60, backoff_base_seconds=5))
    admit_now(engine, wl("w"), now=0)
    if placed:
        engine.mark_placed("w")
    result = run(engine, now=now)
    assert bool(result.expired) is expired
    assert ("w" in engine.reservations) is not expired
    if expired:
        assert result.expired[0].why.reason is Reason.PODS_READY_TIMEOUT
        assert engine.pending_info("w", now).reason is Reason.BACKOFF
        assert admitted_ids(run(engine, now=now + 5)) == ["w"]


def test_held_queue_admits_nothing_and_says_so():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=4).hold().obj())
    submit(engine, wl("w"))
    result = run(engine)
    assert result.admitted == () and result.pending[0].why.reason is Reason.CLUSTER_QUEUE_HELD


def test_cycle_leaves_the_snapshot_unchanged():
    from libs.quota import schedule
    a = make_cluster_queue("a").cohort("c").flavor("default", cpu=2).preemption(within="LowerPriority").obj()
    engine = engine_of(a, make_cluster_queue("b").cohort("c").flavor("default", cpu=2).obj(),
                       cohorts=(make_cohort("c").flavor("default", cpu=1).obj(),))
    admit_now(engine, wl("x", "a", cpu=2, priority=-1))
    submit(engine, wl("y", "a", cpu=3, priority=5, created=1), wl("z", "b", cpu=2, created=2))
    def usage():
        nodes = [*engine.tree.queues.values(), *engine.tree.cohorts.values()]
        return {n.name: {k: v for k, v in n.usage.items() if v} for n in nodes}
    before = usage()
    result = schedule(engine.snapshot(), engine.pending, engine.config, now=1)
    after = usage()
    assert result.decisions == 2 and before == after


def test_requeue_ends_backoff_and_inadmissible_parking():
    engine = engine_of(make_cluster_queue("cq").flavor("default", cpu=1).obj(), timing=Timing(backoff_base_seconds=100))
    admit_now(engine, wl("w"))
    engine.evict("w", Why(Reason.EVICTED, "node lost"), now=0)
    assert run(engine, now=1).admitted == ()
    assert engine.requeue("w", now=1) and admitted_ids(run(engine, now=1)) == ["w"]
    assert engine.requeue("w", now=2) is False  # reserved, not pending


@pytest.mark.parametrize(("b_quota", "a_limit", "gpus", "sentence"), [
    pytest.param(4, None, 6, "cohort org can lend only 4 h100 GPU", id="why: the cohort can lend less than needed"),
    pytest.param(0, None, 1, "cohort org has no lendable h100 GPU", id="why: nothing to lend"),
    pytest.param(8, 2, 3, "borrowingLimit 2 reached", id="why: the queue's borrowing limit"),
])
def test_shortfall_sentences(b_quota, a_limit, gpus, sentence):
    from libs.quota.builders import quota
    a = make_cluster_queue("team-a").cohort("org").flavor("h100", gpu=quota(8, a_limit)).obj()
    b = make_cluster_queue("team-b").cohort("org").flavor("h100", gpu=b_quota).obj()
    engine = engine_of(a, b)
    admit_now(engine, wl("a-run", "team-a", cpu=0, gpu=8 + (2 if a_limit else 0)))
    submit(engine, wl("a-next", "team-a", cpu=0, gpu=gpus, created=1))
    why = run(engine).pending[0].why
    assert why.message.endswith(sentence), why.message


def test_expired_quota_is_reused_in_the_same_cycle_and_never_a_victim():
    spec = make_cluster_queue("cq").flavor("default", cpu=1).preemption(within="LowerPriority").obj()
    engine = engine_of(spec, timing=Timing(pods_ready_timeout_seconds=60))
    admit_now(engine, wl("stuck", priority=0), now=0)
    submit(engine, wl("next", priority=5, created=1), now=0)
    result = run(engine, now=60)
    assert [e.workload_id for e in result.expired] == ["stuck"]
    assert admitted_ids(result) == ["next"] and result.preempting == ()
