"""benchmarks.placement_fgd_mixes measures the scheduler's policy: its YAML, and the typical pods it would learn."""

from __future__ import annotations

import pytest

from benchmarks.placement_fgd_mixes import policies, variant
from benchmarks.placement_fgd_protocol import learned_mix, typical_mix
from libs.placement.pod_mix import POPULARITY_DIGITS


def pod(cpu: int, k: int, mem: int, milli: int = 1000) -> dict:
    return dict(cpu=cpu, mem=mem, k=k, milli=milli, models=())


PODS = [pod(8000, 1, 1000)] * 4 + [pod(8000, 1, 4000)] * 2 + [pod(64000, 8, 256_000)] * 3 + [pod(12000, 0, 500)]


def test_ours_learns_its_typical_pods_with_the_schedulers_code_memory_included():
    chosen = policies(PODS)
    ours = chosen["ours"]
    assert ours.typical_pods == learned_mix(PODS)
    assert [(p.cpu_milli, p.gpu_count, p.memory_mib, p.popularity) for p in ours.typical_pods] == [
        (8000, 1, 2000, 0.6), (64000, 8, 256_000, 0.3), (12000, 0, 500, 0.1)]
    # the paper's FGD keeps the paper's typical pods: the same shapes, no memory
    assert chosen["fgd"].typical_pods == typical_mix(PODS)
    assert [p.memory_mib for p in chosen["fgd"].typical_pods] == [0, 0, 0]
    assert [round(p.popularity, POPULARITY_DIGITS) for p in chosen["fgd"].typical_pods] == [0.6, 0.3, 0.1]


def test_ours_is_the_yaml_policy_and_the_variants_turn_one_rule_off():
    chosen = policies(PODS)
    assert chosen["ours"].fgd_scarcity and chosen["ours"].fgd_stranding_scarce and chosen["ours"].fgd_models
    assert not variant(chosen["ours"], "ours-x0").fgd_scarcity
    assert not chosen["ours-paper"].fgd_scarcity and chosen["ours-paper"].typical_pods == typical_mix(PODS)
    with pytest.raises(SystemExit, match="unknown strategy 'ours-z9'"):
        variant(chosen["ours"], "ours-z9")
