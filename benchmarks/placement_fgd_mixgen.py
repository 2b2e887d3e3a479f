"""Pod mixes for placement_fgd_mixes, made from the openb default pod list the way the FGD paper made its variants.

The paper (Weng et al., ATC'23, section 6) evaluates on trace variants that keep the default pods but
change the share of one kind: GPU-sharing pods, multi-GPU pods, CPU-only (non-GPU) pods, and pods that
constrain their GPU model. A mix here is a pod list as long as the default one (8,152 pods):

- a *share* mix sets the fraction one class takes of its base (all pods, or the GPU pods); the pods of
  that class are drawn with replacement from the default pods of the class, the other classes of the
  base keep their relative sizes the same way, and pods outside the base are kept as they are;
- a *spec* mix constrains a fraction of the GPU pods (drawn at random) to one GPU model, chosen with
  probability proportional to the GPUs of that model on nodes where the pod fits alone (the default
  list constrains none).

Each mix is made once, with a fixed generator of its own, so every seed and strategy sees the same pod
list; the typical pods of a mix are taken from its own pod list, as the paper's simulator does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from libs.placement import NodeSpec

from .placement_fgd_protocol import Pod

GPU_CLASSES = ("share", "whole", "multi")
ALL_CLASSES = ("cpu", *GPU_CLASSES)


@dataclass(frozen=True)
class Mix:
    """One pod mix: how it is made from the default pod list."""

    name: str
    doc: str  # what the mix is, in one line (printed and stored with the figures)
    cls: str = ""  # the class whose share is set ("" = none)
    share: float = 0.0  # that class's fraction of its base
    base: tuple[str, ...] = GPU_CLASSES  # the classes the fraction is of
    spec: float = 0.0  # fraction of GPU pods constrained to one GPU model


MIXES = (
    Mix("default", "the openb default pod list (44% of GPU pods share a GPU, 1% multi-GPU, 13% CPU-only)"),
    Mix("share-80", "80% of GPU pods share a GPU", "share", 0.8),
    Mix("share-100", "every GPU pod shares a GPU", "share", 1.0),
    Mix("multi-20", "20% of GPU pods ask for 2-8 whole GPUs", "multi", 0.2),
    Mix("multi-50", "50% of GPU pods ask for 2-8 whole GPUs", "multi", 0.5),
    Mix("cpu-25", "25% of all pods are CPU-only", "cpu", 0.25, ALL_CLASSES),
    Mix("cpu-40", "40% of all pods are CPU-only", "cpu", 0.4, ALL_CLASSES),
    Mix("spec-10", "10% of GPU pods constrained to one GPU model", spec=0.1),
    Mix("spec-33", "33% of GPU pods constrained to one GPU model", spec=0.33),
)
# Mixes no policy parameter was chosen on, run on request (--mixes): they check that a rule chosen on the mixes above
# holds between and beyond them. Their generators are seeded after the nine above, so those stay as they were.
HELD_OUT = (
    Mix("cpu-33", "33% of all pods are CPU-only (held out)", "cpu", 0.33, ALL_CLASSES),
    Mix("cpu-50", "50% of all pods are CPU-only (held out)", "cpu", 0.5, ALL_CLASSES),
    Mix("multi-35", "35% of GPU pods ask for 2-8 whole GPUs (held out)", "multi", 0.35),
)
BY_NAME = {m.name: m for m in (*MIXES, *HELD_OUT)}
INDEX = {name: i for i, name in enumerate(BY_NAME)}  # a mix's generator seed is 10,000 + its index


def pod_class(p: Pod) -> str:
    """Return a pod's class: cpu (no GPU), share (part of one GPU), whole (one GPU) or multi (2+ GPUs)."""
    if p["k"] == 0:
        return "cpu"
    if p["milli"] < 1000:
        return "share"
    return "whole" if p["k"] == 1 else "multi"


def make(mix: Mix, pods: list[Pod], nodes: list[NodeSpec], index: int) -> list[Pod]:
    """Return the pod list of ``mix`` (generator seeded by the mix's position, so a mix is always the same)."""
    rng = np.random.default_rng(10_000 + index)
    out = _reshare(mix, pods, rng) if mix.cls else list(pods)
    return _constrain(out, nodes, mix.spec, rng) if mix.spec else out


def _reshare(mix: Mix, pods: list[Pod], rng: np.random.Generator) -> list[Pod]:
    by_class: dict[str, list[Pod]] = defaultdict(list)
    for p in pods:
        by_class[pod_class(p)].append(p)
    in_base = sum(len(by_class[c]) for c in mix.base)
    others = [c for c in mix.base if c != mix.cls]
    rest = sum(len(by_class[c]) for c in others)
    want = {mix.cls: round(mix.share * in_base)}
    for c in others:
        want[c] = round((in_base - want[mix.cls]) * len(by_class[c]) / rest) if rest else 0
    out = [p for p in pods if pod_class(p) not in mix.base]
    for c, n in want.items():
        out += [by_class[c][i] for i in rng.integers(len(by_class[c]), size=n)]
    return [out[i] for i in rng.permutation(len(out))]


def _constrain(pods: list[Pod], nodes: list[NodeSpec], frac: float, rng: np.random.Generator) -> list[Pod]:
    out = list(pods)
    gpu = [i for i, p in enumerate(pods) if p["k"]]
    for i in rng.choice(gpu, size=round(frac * len(gpu)), replace=False):
        p = pods[i]
        gpus: dict[str, int] = defaultdict(int)
        for n in nodes:
            if n.gpu_count >= p["k"] and n.cpu_milli >= p["cpu"] and n.memory_mib >= p["mem"]:
                gpus[n.gpu_model] += n.gpu_count
        models = sorted(gpus)
        weights = np.array([gpus[m] for m in models], float)
        out[i] = {**p, "models": (models[int(rng.choice(len(models), p=weights / weights.sum()))],)}
    return out
