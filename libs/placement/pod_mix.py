"""The pod mix the scheduler has seen: a decayed histogram of pod shapes, FGD's typical pods learned, not written.

Every pod the scheduler is asked to place adds its shape (CPU, memory, GPUs, GPU milli per GPU, allowed GPU
models) with weight 1; every weight halves each ``half_life_s`` of event time, so the mix follows what teams run
now. :meth:`PodMix.typical` returns the most common shapes covering ``coverage`` of the weight, keyed as the FGD
paper keys them (CPU, GPUs, milli per GPU, models) with each shape's memory the weighted mean of its pods',
popularities rounded to a thousandth (so that a mix which barely moved is the same mix, and the placement core's
score caches, keyed by it, stay warm). With every pod seen at one instant it is ``fgd.typical_pods`` of those
pods with their memory, up to that rounding and to which of equally common shapes comes first (here in shape
order, there in the order seen; at the 95 % cut that may swap one rare shape): the mix
``benchmarks/placement_fgd_mixes.py`` measures.

Pure: times are passed in; the state is plain data (``state()`` / ``from_state``) for the scheduler to store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .fgd import TypicalPod, covering
from .model import Workload
from .scoring import PlacementPolicy

MixShape = tuple[int, int, int, int, tuple[str, ...]]  # cpu milli, memory MiB, GPU count, milli per GPU, GPU models
MAX_SHAPES = 512  # shapes tracked at most: the lightest is forgotten first (a long tail weighs nothing anyway)
_FLOOR = 1e-6  # a weight below this is forgotten
MIX_REFRESH = 32  # workloads learned between two looks at the mix (a changed mix recomputes FGD scores)
TYPICAL_MAX = 128  # typical shapes at most (the openb mixes need 29-114 to cover 95 %; fewer cost placements)
POPULARITY_DIGITS = 3  # typical popularities are rounded to this many decimals


def mix_shape(pod_set) -> MixShape:
    """Returns the learned shape of one pod of a placement pod set."""
    milli = pod_set.gpu_milli if pod_set.gpu_count else 0
    return (pod_set.cpu_milli, pod_set.memory_mib, pod_set.gpu_count, milli, tuple(pod_set.gpu_models))


@dataclass
class PodMix:
    """A decayed histogram of pod shapes (weights as of ``as_of``, in event seconds)."""

    half_life_s: float = 86_400.0
    weights: dict[MixShape, float] = field(default_factory=dict)
    as_of: float | None = None
    seen: int = 0  # pods observed, ever (not decayed): the mix is trusted past a minimum

    def __post_init__(self) -> None:
        if not self.half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {self.half_life_s}")

    def observe(self, workload: Workload, at: float) -> None:
        """Adds every pod of ``workload`` (its full count per pod set), seen at ``at``."""
        self._decay_to(at)
        for ps in workload.pod_sets:
            key = mix_shape(ps)
            self.weights[key] = self.weights.get(key, 0.0) + ps.count
            self.seen += ps.count
        if len(self.weights) > MAX_SHAPES:
            for key in sorted(self.weights, key=lambda k: (self.weights[k], k))[: len(self.weights) - MAX_SHAPES]:
                del self.weights[key]

    def _decay_to(self, at: float) -> None:
        if self.as_of is None:
            self.as_of = at
            return
        if at <= self.as_of:  # out of order: counted as if seen at the newest time (a rounding of seconds)
            return
        factor = 0.5 ** ((at - self.as_of) / self.half_life_s)
        self.weights = {k: w * factor for k, w in self.weights.items() if w * factor >= _FLOOR}
        self.as_of = at

    @property
    def total(self) -> float:
        return sum(self.weights.values())

    def typical(self, coverage: float = 0.95, max_shapes: int = TYPICAL_MAX) -> tuple[TypicalPod, ...]:
        """Returns the most common shapes covering ``coverage`` of the (decayed) weight, at most ``max_shapes``,
        popularities renormalised over them and rounded to ``POPULARITY_DIGITS`` decimals (shapes that round to 0
        are left out). A shape is (CPU, GPUs, milli per GPU, models), its memory the weighted mean of its pods'.
        Heavier first; equal weights in shape order, so the answer does not depend on the order pods came in."""
        weight: dict[tuple, float] = {}
        memory: dict[tuple, float] = {}
        for (cpu, mem, count, milli, models), w in self.weights.items():
            key = (cpu, count, milli, models)
            weight[key] = weight.get(key, 0.0) + w
            memory[key] = memory.get(key, 0.0) + w * mem
        ranked = sorted(weight.items(), key=lambda kw: (-kw[1], kw[0]))
        kept = covering(ranked, sum(weight.values()), coverage, max_shapes)
        covered = sum(w for _, w in kept)
        pods = []
        for key, w in kept:
            cpu, count, milli, models = key
            popularity = round(w / covered, POPULARITY_DIGITS)
            if popularity > 0:
                pods.append(TypicalPod(cpu_milli=cpu, gpu_milli=milli if count else 0, gpu_count=count,
                                       gpu_models=models, popularity=popularity, memory_mib=round(memory[key] / w)))
        return tuple(pods)

    def state(self) -> dict:
        """Returns the mix as JSON-able data."""
        return {"half_life_s": self.half_life_s, "as_of": self.as_of, "seen": self.seen,
                "weights": [[list(k[:4]) + [list(k[4])], w] for k, w in sorted(self.weights.items())]}

    @classmethod
    def from_state(cls, data: dict, half_life_s: float | None = None) -> "PodMix":
        """Returns the mix ``state()`` described (with a new half-life, if the policy changed it)."""
        weights = {(int(c), int(m), int(k), int(g), tuple(models)): float(w)
                   for (c, m, k, g, models), w in data.get("weights", [])}
        return cls(half_life_s or float(data["half_life_s"]), weights, data.get("as_of"), int(data.get("seen", 0)))



class MixLearner:
    """A policy's typical pods, learned from the workloads it is asked to place (``learn_typical``): the scheduler's
    engine and the replay both place with ``policy``, which this keeps up to date.

    The policy file's typical pods are the prior until ``typical_min_pods`` pods were seen; after that the learned
    mix replaces them, looked at every ``MIX_REFRESH`` workloads. A policy that does not learn stays as it is.
    """

    def __init__(self, policy: PlacementPolicy) -> None:
        self.configured = policy  # as the policy file says
        self.policy = policy  # what placement uses now
        self.mix = PodMix(policy.typical_half_life_s) if policy.learn_typical else None
        self._since_look = 0  # workloads learned since the mix was last looked at
        self._dirty = False  # looked at since the mix was last handed out to be stored

    def learn(self, workload: Workload, at: float) -> bool:
        """Counts ``workload``, seen at ``at`` (event seconds), into the mix; returns whether ``policy`` changed."""
        if self.mix is None:
            return False
        self.mix.observe(workload, at)
        self._since_look += 1
        return self._since_look >= MIX_REFRESH and self.look()

    def look(self) -> bool:
        """Uses the learned mix as the typical pods once enough pods were seen; returns whether ``policy`` changed."""
        self._since_look, self._dirty = 0, True
        if self.mix is None or self.mix.seen < self.configured.typical_min_pods:
            return False
        learned = self.mix.typical()
        if not learned or learned == self.policy.typical_pods:
            return False
        self.policy = replace(self.policy, typical_pods=learned)
        return True

    def state_to_save(self) -> dict | None:
        """Returns the mix's state once after each look (None in between, and for a policy that does not learn)."""
        if self.mix is None or not self._dirty:
            return None
        self._dirty = False
        return self.mix.state()

    def restore(self, state: dict) -> None:
        """Takes back a stored mix (the scheduler's rebuild), with the policy's half-life."""
        if self.mix is not None:
            self.mix = PodMix.from_state(state, self.configured.typical_half_life_s)
            self.look()
