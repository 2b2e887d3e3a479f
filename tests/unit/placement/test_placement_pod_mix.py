"""The learned pod mix (libs/placement/pod_mix.py): FGD's typical pods from the pods the scheduler has seen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from placement_builders import workload

from libs.placement import typical_pods
from libs.placement.pod_mix import MAX_SHAPES, PodMix

DAY = 86_400.0


def test_pods_seen_at_one_instant_give_the_papers_typical_pods_with_their_memory_up_to_rounding() -> None:
    loads = [workload("a").pods("p", 4, gpus=1, cpu=8000, mem=1000), workload("a2").pods("p", 2, gpus=1, cpu=8000,
                                                                                      mem=4000),
             workload("b").pods("p", 3, gpus=2, cpu=16000, mem=2048), workload("c").pods("p", 1, cpu=4000, mem=512)]
    mix = PodMix()
    shapes = []
    for b in loads:
        w = b.build()
        mix.observe(w, at=0.0)
        shapes += [(ps.cpu_milli, ps.gpu_milli if ps.gpu_count else 0, ps.gpu_count, ps.gpu_models, ps.memory_mib)
                   for ps in w.pod_sets for _ in range(ps.count)]
    learned = [(p.cpu_milli, p.gpu_milli, p.gpu_count, p.memory_mib, p.popularity) for p in mix.typical(coverage=1.0)]
    paper = [(p.cpu_milli, p.gpu_milli, p.gpu_count, p.memory_mib, round(p.popularity, 3))
             for p in typical_pods(shapes, 1.0)]
    # one shape per (CPU, GPUs): the 8-CPU pods' memory is the mean of 4 x 1000 and 2 x 4000 MiB
    assert learned == paper == [(8000, 1000, 1, 2000, 0.6), (16000, 1000, 2, 2048, 0.3), (4000, 0, 0, 512, 0.1)]


def test_a_decayed_shape_weighs_its_memory_by_the_decayed_weights() -> None:
    mix = PodMix(half_life_s=DAY)
    mix.observe(workload("old").pods("p", 1, gpus=1, cpu=8000, mem=3000).build(), at=0.0)
    mix.observe(workload("new").pods("p", 2, gpus=1, cpu=8000, mem=1000).build(), at=DAY)
    [only] = mix.typical(coverage=1.0)
    assert (only.memory_mib, only.popularity) == (1400, 1.0)  # (0.5 x 3000 + 2 x 1000) / 2.5


def test_weights_halve_every_half_life_so_the_mix_follows_what_runs_now() -> None:
    mix = PodMix(half_life_s=DAY)
    mix.observe(workload("old").pods("p", 100, gpus=8).build(), at=0.0)
    mix.observe(workload("new").pods("p", 100, gpus=1, gpu_milli=500).build(), at=DAY)
    [new, old] = mix.typical(coverage=1.0)
    assert (new.gpu_milli, new.popularity, old.gpu_count, old.popularity) == (500, 0.667, 8, 0.333)
    mix.observe(workload("later").pods("p", 1, gpus=1, gpu_milli=500).build(), at=30 * DAY)
    assert [p.gpu_milli for p in mix.typical()] == [500]  # a month later the whole-node pods are forgotten


def test_the_state_round_trips_and_a_new_half_life_applies_from_then_on() -> None:
    mix = PodMix(half_life_s=DAY)
    mix.observe(workload("a").pods("p", 4, gpus=1, cpu=2000, models=("H100", "A100")).build(), at=5.0)
    mix.observe(workload("b").pods("p", 2, cpu=1000).build(), at=9.0)
    again = PodMix.from_state(mix.state())
    assert (again.weights, again.as_of, again.seen, again.typical()) == (mix.weights, 9.0, 6, mix.typical())
    assert PodMix.from_state(mix.state(), half_life_s=60.0).half_life_s == 60.0
    with pytest.raises(ValueError, match="half_life_s"):
        PodMix(half_life_s=0)


def test_at_most_max_shapes_are_tracked_the_lightest_forgotten_first() -> None:
    mix = PodMix()
    mix.observe(workload("heavy").pods("p", 1000, cpu=1).build(), at=0.0)
    for i in range(MAX_SHAPES + 10):
        mix.observe(workload(f"w{i}").pods("p", 1, cpu=100 + i).build(), at=0.0)
    assert len(mix.weights) == MAX_SHAPES and (1, 1024, 0, 0, ()) in mix.weights


shapes = st.tuples(st.sampled_from([1000, 4000, 8000]), st.sampled_from([0, 1, 2, 8]), st.integers(1, 20))


@given(st.lists(shapes, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_the_mix_does_not_depend_on_the_order_pods_came_in_and_its_popularities_sum_to_one(pods, rng) -> None:
    def learned(order):
        mix = PodMix()
        for i, (cpu, gpus, count) in enumerate(order):
            mix.observe(workload(f"w{i}").pods("p", count, cpu=cpu, gpus=gpus).build(), at=100.0)
        return mix.typical()
    first = learned(pods)
    shuffled = list(pods)
    rng.shuffle(shuffled)
    assert learned(shuffled) == first
    assert first and all(p.popularity > 0 for p in first)
    assert abs(sum(p.popularity for p in first) - 1) <= 0.0005 * len(first) + 1e-9
