"""The FGD paper's evaluation protocol on the Alibaba 2023 GPU trace, shared by the placement_fgd_* benchmarks.

Weng et al., ATC'23 (see ../shared/data/traces/README.md): pods sampled with replacement and shuffled
until their GPU requests reach 130% of capacity; no departures; failed pods count as arrived; ties go
to a fixed node order shuffled once per seed (the snapshot's slot order); typical pods keyed by
(cpu, gpu milli, gpu count, model) covering 95% of the pod list, CPU-only pods included. Reported:
allocated GPU milli / capacity when arrived requests reach 100% and 130% of capacity.
"""

from __future__ import annotations

import csv
import itertools

import numpy as np

from libs.placement import NodeSpec, PlacementPolicy, PodSet, Snapshot, TypicalPod, Workload, place, typical_pods
from libs.placement.model import gpu_models_from_spec
from libs.placement.pod_mix import PodMix

from .placement_common import TRACES

TRACE = TRACES / "alibaba-gpu-2023"
Pod = dict  # cpu, mem (MiB), k (GPU count), milli (per GPU), models (allowed GPU models, () = any)


def available() -> bool:
    """Return whether the trace is where the benchmarks look for it."""
    return (TRACE / "openb_pod_list_default.csv").exists()


def load() -> tuple[list[NodeSpec], list[Pod]]:
    """Return the trace's GPU nodes and its default pod list."""
    with open(TRACE / "openb_node_list_gpu_node.csv") as f:
        nodes = [NodeSpec(r["sn"], int(r["cpu_milli"]), int(r["memory_mib"]), int(r["gpu"]), r["model"])
                 for r in csv.DictReader(f)]
    with open(TRACE / "openb_pod_list_default.csv") as f:
        pods = [dict(cpu=int(r["cpu_milli"]), mem=int(r["memory_mib"]), k=int(r["num_gpu"]),
                     milli=int(r["gpu_milli"]), models=gpu_models_from_spec(r["gpu_spec"]))
                for r in csv.DictReader(f)]
    return nodes, pods


def capacity(nodes: list[NodeSpec]) -> int:
    """Return the fleet's GPU capacity in milli."""
    return sum(n.gpu_count for n in nodes) * 1000


def typical_mix(pods: list[Pod]) -> tuple[TypicalPod, ...]:
    """Return the typical pods of a pod list, the paper's way (CPU and GPUs; no memory)."""
    return typical_pods([(p["cpu"], p["milli"] if p["k"] else 0, p["k"], p["models"]) for p in pods])


def learned_mix(pods: list[Pod]) -> tuple[TypicalPod, ...]:
    """Return the typical pods the scheduler learns (libs.placement.pod_mix, its own code) having seen every pod of
    the list at one instant: the paper's shapes with each one's mean memory, popularities rounded to 0.001."""
    mix = PodMix()
    for i, p in enumerate(pods):
        mix.observe(Workload(f"m{i}", (pod_set(p),)), at=0.0)
    return mix.typical()


def pod_set(p: Pod) -> PodSet:
    """Return one trace pod as a placement pod set of one pod."""
    return PodSet("p", 1, p["cpu"], p["mem"], p["k"], p["milli"] if p["k"] else 1000, p["models"])


def sample(pods: list[Pod], cap: int, rng: np.random.Generator) -> list[Pod]:
    """Return pods drawn with replacement, in random order, until requests reach 130% of capacity."""
    out, asked = [], 0
    while asked < 1.3 * cap:
        p = pods[int(rng.integers(len(pods)))]
        out.append(p)
        asked += p["k"] * p["milli"]
    return out


def arrivals_and_order(pods: list[Pod], nodes: list[NodeSpec], seed: int) -> tuple[list[Pod], list[NodeSpec]]:
    """Return one seed's arrivals and its fixed node order (every strategy of the seed gets the same)."""
    rng = np.random.default_rng(seed)
    arrivals = sample(pods, capacity(nodes), rng)
    return arrivals, [nodes[i] for i in rng.permutation(len(nodes))]


def replay(nodes: list[NodeSpec], arrivals: list[Pod], policy: PlacementPolicy, cap: int) -> tuple[float, float]:
    """Return the GPU allocation ratio (%) at 100% and 130% arrived."""
    snap = Snapshot.from_nodes(nodes)
    asked = allocated = 0
    at100 = None
    for i, p in enumerate(arrivals):
        result = place(snap, Workload(f"w{i}", (pod_set(p),)), policy)
        asked += p["k"] * p["milli"]
        if result.placed:
            allocated += p["k"] * p["milli"]
        if at100 is None and asked >= cap:
            at100 = 100.0 * allocated / cap
    return at100 or 0.0, 100.0 * allocated / cap


def bound(nodes: list[NodeSpec], arrivals: list[Pod], cap: int) -> tuple[float, float]:
    """Return an upper bound on any strategy's GPU allocation ratio (%) at 100% and 130% arrived (as ``replay``:
    the second point is after every arrival).

    A pod asking for more than half the whole GPUs of the fleet's largest node (8 of 8: openb's whole-node pods)
    never shares a node with another such pod, so of those that ask at least c CPU, m memory and k GPUs no
    strategy places more than there are nodes with at least that much (Hall's condition on the sets of this
    form; GPU models ignored, which only loosens it). The pods beyond are lost whatever the strategy; the bound
    is what arrived minus them, at most the capacity. It says where no strategy can gain, not what one reaches.
    """
    big_k = max(n.gpu_count for n in nodes) // 2 + 1
    caps = np.array([(n.cpu_milli, n.memory_mib, n.gpu_count) for n in nodes], np.int64)
    asked, big, at100 = 0, [], None
    for p in arrivals:
        asked += p["k"] * p["milli"]
        if p["k"] >= big_k and p["milli"] >= 1000:
            big.append((p["cpu"], p["mem"], p["k"]))
        if at100 is None and asked >= cap:
            at100 = 100.0 * min(cap, asked - _unavoidably_lost(big, caps)) / cap
    at_end = 100.0 * min(cap, asked - _unavoidably_lost(big, caps)) / cap
    return (at_end if at100 is None else at100), at_end


def _unavoidably_lost(big: list[tuple[int, int, int]], caps: np.ndarray) -> int:
    """Return GPU milli of whole-node pods that no strategy can place: the largest Hall deficiency over the
    sets "asks at least (c, m, k)" (each bound taken from some pod), a lost pod counted at that set's k GPUs."""
    if not big:
        return 0
    pods = np.array(big, np.int64)
    lost = 0
    for c, m, k in itertools.product(*(sorted(set(col)) for col in zip(*big))):
        wanting = int(((pods[:, 0] >= c) & (pods[:, 1] >= m) & (pods[:, 2] >= k)).sum())
        hosts = int(((caps[:, 0] >= c) & (caps[:, 1] >= m) & (caps[:, 2] >= k)).sum())
        lost = max(lost, (wanting - hosts) * k * 1000)
    return lost


def paired_gain(ours: list[tuple[float, float]], base: list[tuple[float, float]]) -> dict[str, dict]:
    """Return the per-seed gain of ``ours`` over ``base`` at 100% and 130% arrived: mean, min, seeds improved."""
    out = {}
    for i, point in enumerate(("at_100", "at_130")):
        d = np.array([a[i] - b[i] for a, b in zip(ours, base)])
        out[point] = {"mean": round(float(d.mean()), 2), "min": round(float(d.min()), 2),
                      "max": round(float(d.max()), 2), "improved": f"{int((d > 0).sum())}/{len(d)}"}
    return out


def mean_ratios(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """Return the mean allocation ratio at 100% and 130% arrived over seeds."""
    return round(float(np.mean([a for a, _ in runs])), 2), round(float(np.mean([b for _, b in runs])), 2)
