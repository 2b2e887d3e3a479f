"""Property tests: random trees, random workloads, random operation sequences.

Invariants after every step:
- usage never exceeds what a node may hold (nominal + borrowable) at any level of the tree,
  and the tree's usage equals a fresh recount from the reservations;
- a preempted (evicted) workload is always requeued;
- a workload never holds two reservations, and is never both reserved and pending;
- preemption targets are reserved, never outrank a same-queue preemptor, and sit in
  borrowing queues when they belong to another queue.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.quota import QuotaConfig, QuotaEngine, QuotaTree, ResourceFlavor, Timing, Why
from libs.quota.builders import local_queues_for, make_cluster_queue, make_cohort, make_workload, quota

FLAVORS = ("f1", "f2")
POLICIES = ("Never", "LowerPriority", "Any")


@st.composite
def limits(draw):
    nominal = draw(st.integers(0, 8))
    borrow = draw(st.none() | st.integers(0, 6))
    lend = draw(st.none() | st.integers(0, nominal))
    return quota(nominal, borrow, lend)


@st.composite
def configs(draw):
    cohorts = [make_cohort("root").flavor("f1", cpu=draw(st.integers(0, 4))).obj()]
    queues = []
    for o in range(draw(st.integers(1, 3))):
        cohorts.append(make_cohort(f"org{o}").parent("root").flavor("f1", cpu=draw(limits()))
                       .weight(draw(st.sampled_from([0.5, 1.0, 2.0]))).obj())
        for t in range(draw(st.integers(1, 2))):
            cohorts.append(make_cohort(f"team{o}{t}").parent(f"org{o}").obj())
            for q in range(draw(st.integers(1, 2))):
                b = make_cluster_queue(f"q{o}{t}{q}").cohort(f"team{o}{t}")
                for f in draw(st.permutations(FLAVORS)):
                    b.flavor(f, cpu=draw(limits()))
                b.preemption(within=draw(st.sampled_from(["Never", "LowerPriority", "LowerOrNewerEqualPriority"])),
                             reclaim=draw(st.sampled_from(POLICIES)))
                b.strategy(draw(st.sampled_from(["StrictFIFO", "BestEffortFIFO"])))
                queues.append(b.obj())
    return QuotaConfig.build(
        flavors=[ResourceFlavor(f) for f in FLAVORS], cohorts=cohorts, cluster_queues=queues,
        local_queues=local_queues_for(*(q.name for q in queues)), fair_sharing=draw(st.booleans()),
        timing=Timing(backoff_base_seconds=1, backoff_max_seconds=8, pods_ready_timeout_seconds=draw(
            st.none() | st.just(5.0)), min_runtime_seconds=draw(st.sampled_from([0.0, 2.0]))))


def check_invariants(engine: QuotaEngine) -> None:
    tree = engine.tree
    for node in [*tree.queues.values(), *tree.cohorts.values()]:
        for fr, used in node.usage.items():
            assert 0 <= used <= tree.potential(node, fr), (node.name, fr, used)
            assert tree.available(node, fr) >= 0, (node.name, fr)
    fresh = QuotaTree(engine.config)
    for r in engine.reservations.values():
        fresh.add_usage(fresh.queues[r.admission.cluster_queue], r.admission.usage())
    for name, node in tree.queues.items():
        assert {k: v for k, v in node.usage.items() if v} == \
               {k: v for k, v in fresh.queues[name].usage.items() if v}
    pending = {wid for q in engine.pending.values() for wid in q.entries} | set(engine.unrouted)
    assert not pending & set(engine.reservations), "reserved and pending at once"
    assert sum(len(v) for v in engine.admitted.values()) == len(engine.reservations)


def check_targets(engine: QuotaEngine, p, expired: set[str]) -> None:
    """Victims are reserved and not expiring; same-queue victims never outrank the preemptor;
    other-queue victims sit in borrowing queues (checked before the result is applied)."""
    preemptor = engine.pending[p.cluster_queue].entries[p.workload_id].workload
    for t in p.targets:
        assert t.workload_id not in expired, "an expiring reservation named as a victim"
        victim = engine.reservations[t.workload_id]
        if t.cluster_queue == p.cluster_queue:
            assert victim.workload.priority <= preemptor.priority
        else:
            assert engine.tree.borrows(engine.tree.queues[t.cluster_queue]), "victim's queue was not borrowing"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), data=st.data())
def test_random_operations_keep_the_invariants(config, data):
    engine = QuotaEngine(config)
    queues = sorted(config.cluster_queues)
    now, seq = 0.0, 0
    for _ in range(data.draw(st.integers(10, 40))):
        op = data.draw(st.sampled_from(["submit", "submit", "cycle", "cycle", "cycle", "finish", "place", "reload"]))
        if op == "submit":
            for _ in range(data.draw(st.integers(1, 4))):
                seq += 1
                engine.add_workload(make_workload(f"w{seq}").queue(data.draw(st.sampled_from(queues)))
                                    .request(cpu=data.draw(st.integers(1, 6))).priority(data.draw(st.integers(-5, 5)))
                                    .created(now).obj(), now)
        elif op == "cycle":
            now += data.draw(st.sampled_from([0.0, 1.0, 3.0]))
            before = set(engine.reservations)
            result = engine.plan(now)
            for p in result.preempting:
                check_targets(engine, p, {e.workload_id for e in result.expired})
            engine.apply(result, now)
            ids = [a.workload_id for a in result.admitted]
            assert len(ids) == len(set(ids)) and not set(ids) & before, "second reservation"
            for p in result.preempting:
                for t in p.targets:
                    engine.evict(t.workload_id, Why(t.reason, "preempted"), now)
                    assert engine.where(t.workload_id) == "pending", "preempted but not requeued"
            for e in result.expired:
                assert engine.where(e.workload_id) == "pending", "expired but not requeued"
        elif op == "finish" and engine.reservations:
            engine.finish(data.draw(st.sampled_from(sorted(engine.reservations))))
        elif op == "place" and engine.reservations:
            engine.mark_placed(data.draw(st.sampled_from(sorted(engine.reservations))))
        elif op == "reload":
            engine.apply_config(config, now)
        check_invariants(engine)
