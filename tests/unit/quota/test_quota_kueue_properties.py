"""Property tests for the Kueue features of the core: partial admission, flavor eligibility and
admission fair sharing history.

- partial admission reserves the largest count that fits, never below ``min_count``;
- a pod set is never given a flavor whose labels, taints or exclusions rule it out, and a pod set
  with an eligible flavor that has room is admitted;
- admission fair sharing usage is never negative and only decays while nothing is held;
- the cycle's shortcuts (``trial.removal_at``, the twin tree without victims) agree with removing for real.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.quota import AdmissionFairSharing, QuotaConfig, QuotaEngine, ResourceFlavor, Taint, Toleration
from libs.quota.afs import AdmissionUsage
from libs.quota.builders import local_queues_for, make_cluster_queue, make_workload
from libs.quota.config import LocalQueue
from libs.quota.eligibility import flavor_mismatch
from libs.quota.trial import WithoutVictims, removal_at
from tests.unit.quota.test_quota_properties import configs

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_queue(flavors, quotas: dict[str, int]) -> QuotaEngine:
    b = make_cluster_queue("cq")
    for f in flavors:
        b.flavor(f.name, cpu=quotas.get(f.name, 0))
    config = QuotaConfig.build(flavors=flavors, cluster_queues=[b.obj()], local_queues=local_queues_for("cq"))
    return QuotaEngine(config)


@FAST
@given(nominal=st.integers(0, 40), used=st.integers(0, 40), count=st.integers(1, 30), per_pod=st.integers(1, 4),
       min_count=st.integers(1, 30))
def test_partial_admission_takes_the_largest_count_that_fits(nominal, used, count, per_pod, min_count):
    min_count = min(min_count, count)
    engine = one_queue([ResourceFlavor("f")], {"f": nominal})
    if used:
        engine.add_workload(make_workload("old").queue("cq").request(cpu=min(used, nominal) or 1).obj(), 0.0)
        engine.run_cycle(0.0)
    free = nominal - sum(r.admission.usage().get(("f", "cpu"), 0) for r in engine.reservations.values()) // 1000
    engine.add_workload(make_workload("new").queue("cq").count(count).min_count(min_count)
                        .request(cpu=per_pod).created(1.0).obj(), 1.0)
    engine.run_cycle(1.0)
    reservation = engine.reservations.get("new")
    best = min(count, free // per_pod)
    if best >= min_count:
        assert reservation is not None and reservation.admission.pod_sets[0].count == best
    else:
        assert reservation is None


labels = st.dictionaries(st.sampled_from(["zone", "pool"]), st.sampled_from(["a", "b"]), max_size=2)
taints = st.lists(st.builds(Taint, st.sampled_from(["spot", "gpu"]), st.sampled_from(["", "yes"]),
                            st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])), max_size=2)


@st.composite
def flavor_sets(draw):
    names = draw(st.lists(st.sampled_from(["f1", "f2", "f3"]), min_size=1, max_size=3, unique=True))
    return [ResourceFlavor(n, draw(labels), tuple(draw(taints))) for n in names]


@FAST
@given(flavors=flavor_sets(), selector=labels, data=st.data())
def test_flavors_given_are_eligible(flavors, selector, data):
    tolerate = data.draw(st.lists(st.builds(Toleration, st.sampled_from(["spot", "gpu", ""]),
                                            st.sampled_from(["Equal", "Exists"]), st.sampled_from(["", "yes"])),
                                  max_size=2))
    excluded = data.draw(st.sets(st.sampled_from([f.name for f in flavors])))
    b = make_workload("w").queue("cq").request(cpu=1).node_selector(**selector).exclude(*excluded)
    for t in tolerate:
        b.toleration(t.key, t.value, t.effect, t.operator)
    workload = b.obj()
    engine = one_queue(flavors, {f.name: 4 for f in flavors})
    engine.add_workload(workload, 0.0)
    engine.run_cycle(0.0)
    eligible = [f.name for f in flavors if flavor_mismatch(workload.pod_sets[0], f) is None]
    reservation = engine.reservations.get("w")
    assert (reservation is not None) == bool(eligible)
    if reservation is not None:
        assert reservation.admission.pod_sets[0].flavors["cpu"] == eligible[0]


@FAST
@given(steps=st.lists(st.tuples(st.sampled_from(["sample", "penalize"]), st.floats(0, 5), st.integers(0, 8000)),
                      max_size=20), start=st.floats(0, 50))
def test_admission_usage_never_negative_and_decays_when_idle(steps, start):
    lq = ("ns", "lq")
    settings_ = AdmissionFairSharing(half_life_seconds=2.0, sampling_seconds=1.0)
    config = QuotaConfig.build(local_queues=[LocalQueue(*lq, "cq")], admission_fair_sharing=settings_)
    history = AdmissionUsage(settings_)
    history.consumed[lq] = {"cpu": start}
    now = 0.0
    for op, dt, amount in steps:
        now += dt
        before = history.usage(lq, config)
        if op == "sample":
            history.sample(now, [])
            assert history.usage(lq, config) <= before + 1e-9
        else:
            history.penalize(lq, {("f", "cpu"): amount})
            assert history.usage(lq, config) >= before
        assert history.usage(lq, config) >= 0


@FAST
@given(config=configs(), data=st.data())
def test_removal_at_and_the_twin_match_removing_for_real(config, data):
    """``removal_at`` predicts the fall of usage at an ancestor; ``WithoutVictims.fits``
    answers as removing every victim from the tree would."""
    engine = QuotaEngine(config)
    queues = sorted(config.cluster_queues)
    for i in range(data.draw(st.integers(1, 30))):
        engine.add_workload(make_workload(f"w{i}").queue(data.draw(st.sampled_from(queues)))
                            .request(cpu=data.draw(st.integers(1, 4))).obj(), 0.0)
        engine.run_cycle(0.0)
    if not engine.reservations:
        return
    tree, reservations = engine.tree, sorted(engine.reservations.values(), key=lambda r: r.workload.id)
    victims = data.draw(st.lists(st.sampled_from(reservations), unique_by=lambda r: r.workload.id, max_size=4))
    r = data.draw(st.sampled_from(reservations))
    leaf = tree.queues[r.admission.cluster_queue]
    top = data.draw(st.sampled_from(leaf.path()))
    before = dict(top.usage)
    predicted = removal_at(leaf, top, r.admission.usage())
    undo = tree.remove_usage(leaf, r.admission.usage())
    assert {fr: top.usage.get(fr, 0) - before.get(fr, 0) for fr in before if top.usage.get(fr, 0) != before[fr]} \
        == predicted
    undo()
    twin = WithoutVictims(tree, lambda wid, cq: engine.reservations[wid].admission.usage())
    twin.claim({v.workload.id: v.admission.cluster_queue for v in victims[:-1]})
    queue, usage = tree.queues[data.draw(st.sampled_from(queues))], {("f1", "cpu"): data.draw(st.integers(1, 9000))}
    last = {v.workload.id: v.admission.cluster_queue for v in victims[-1:]}
    undos = [tree.remove_usage(tree.queues[v.admission.cluster_queue], v.admission.usage()) for v in victims]
    expected = tree.fits(queue, usage)
    for u in reversed(undos):
        u()
    assert twin.fits(queue, usage, last) == expected
