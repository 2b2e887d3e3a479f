"""GPU allocation and fragmentation as the web view samples them from the scheduler's tables."""

from __future__ import annotations

from cli.ui.gpu import GpuSample, sample

NODES = [("a1", "a100", 8, None), ("a2", "a100", 8, "healthy"), ("a3", "a100", 8, "cordoned"),
         ("l1", "l4", 4, None), ("c1", "cpu", 0, None)]


def by_pool(samples: list[GpuSample]) -> dict[str, tuple]:
    return {s.pool: (s.total, s.allocated, s.out_of_service, s.free, s.fragmented) for s in samples}


def test_a_whole_node_gang_leaves_no_fragment_and_a_partial_one_does():
    bound = [("a1", i, 1000) for i in range(8)] + [("a2", 0, 1000), ("a2", 1, 500), ("l1", 0, 250)]
    assert by_pool(sample(0.0, NODES, bound)) == {
        "a100": (24, 9.5, 8, 6, 6),  # a1 full, a2 has 6 free GPUs beside its used ones, a3 out of service
        "l4": (4, 0.25, 0, 3, 3),  # a quarter of one GPU in use fragments the node
        "cpu": (0, 0.0, 0, 0, 0),
        "*": (28, 9.75, 8, 9, 9)}


def test_an_idle_fleet_has_every_in_service_gpu_free_and_none_fragmented():
    assert by_pool(sample(0.0, NODES, []))["*"] == (28, 0.0, 8, 20, 0)
