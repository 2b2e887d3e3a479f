"""The scheduler's placement policy from a small YAML file: a strategy per pool, and FGD's typical pod mix.

Read by the scheduler service (``deploy/scheduler/policy.yaml``), by the benchmarks that measure that policy, and by
``batchyard replay`` (``placement: {policy_file: ...}``), so all three run the same policy from the same file.

```yaml
default: binpack            # binpack | spread | best_fit | fgd  (applies to pools not listed)
pools: {a100: fgd}          # per pool (the pool of the workload's assigned flavor)
typical_pods:               # FGD only: the mix assumed until one is learned (default: a generic GPU mix)
  - {cpu_milli: 8000, gpu_count: 1, popularity: 0.5}
  - {cpu_milli: 4000, gpu_count: 1, gpu_milli: 500, popularity: 0.2}
learn_typical_pods: true    # FGD only: learn the mix from the pods the scheduler is asked to place
typical_pods_half_life_s: 86400  # ... each pod's weight halves this often (event seconds)
typical_pods_min_pods: 200  # ... and the learned mix is used once this many pods were seen
fgd_quantized: false        # FGD only: the simulator's integer scores (ties go to node order)
fgd_stranding: true         # FGD only: also count GPUs a node's remaining CPU/memory can no longer serve
fgd_stranding_whole: true   # ... but none on a node where a typical GPU pod that fits would take all free GPUs
fgd_stranding_scarce: true  # ... at the whole mix's CPU per GPU where it asks more CPU per GPU than the fleet has
fgd_packing: 50             # FGD only: milli of fragmentation a node with all CPU allocated is worth (0: off)
fgd_packing_gpus: false     # FGD only: the packing key counts the node's allocated GPUs as well as its CPU
fgd_packing_constrained: 500  # FGD only: more packing milli per share of typical GPU pods bound to a GPU model
fgd_models: true            # FGD only: weigh a node by the typical pods that accept its GPU model
fgd_scarcity: true          # FGD only: weigh a typical GPU pod by how few nodes could host it, too
```
Defaults are the policy benchmarks/placement_fgd_mixes.py measures as "ours" (ADR 0017).
A missing file means bin-pack everywhere. The file is a pydantic model (``PolicyFile``): unknown fields and wrong
types are refused with the field's path, e.g. ``policy.yaml: typical_pods[1].popularty: unknown field`` or
``policy.yaml: fgd_packing must be a finite number of milli >= 0, got -1`` (ADR 0018).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from libs.events.validation import must_be, problems, read_yaml
from libs.placement import PlacementPolicy, Strategy, TypicalPod

DEFAULT_TYPICAL_PODS = (  # whole-GPU jobs of common sizes, a shared-GPU inference pod and CPU-only pods
    TypicalPod(cpu_milli=8000, gpu_milli=1000, gpu_count=1, popularity=0.3),
    TypicalPod(cpu_milli=16000, gpu_milli=1000, gpu_count=2, popularity=0.15),
    TypicalPod(cpu_milli=32000, gpu_milli=1000, gpu_count=4, popularity=0.1),
    TypicalPod(cpu_milli=64000, gpu_milli=1000, gpu_count=8, popularity=0.1),
    TypicalPod(cpu_milli=4000, gpu_milli=500, gpu_count=1, popularity=0.15),
    TypicalPod(cpu_milli=4000, gpu_milli=0, gpu_count=0, popularity=0.2),
)


FGD_PACKING = 50.0  # milli of fragmentation a fully allocated node's CPU is worth: the packing key (ADR 0017)
FGD_PACKING_CONSTRAINED = 500.0  # more of it per share of model-constrained typical GPU pods (ADR 0017, amended)


class PolicyError(ValueError):
    """The policy YAML is unreadable or invalid; the message names the file and the field's path."""


def _strategy(value: Any) -> Strategy:
    try:
        return Strategy(value)
    except (TypeError, ValueError):
        choices = ", ".join(s.value for s in Strategy)
        raise PydanticCustomError("strategy", f"{value!r} is not a placement strategy (choose one of: {choices})") \
            from None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise must_be("true or false", value)
    return value


def _milli(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise must_be("a finite number of milli >= 0", value)
    return float(value)


StrategyName = Annotated[Strategy, BeforeValidator(_strategy)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Milli = Annotated[float, BeforeValidator(_milli)]
Count = Annotated[StrictInt, Field(ge=0, le=10**9)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypicalPodFile(_Strict):
    """One pod shape of FGD's typical mix."""

    cpu_milli: Count = 0
    gpu_count: Count = 0
    gpu_milli: Count | None = None  # per GPU; default: 1000 if the pod has GPUs, else 0
    gpu_models: tuple[StrictStr, ...] = ()
    popularity: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    memory_mib: Count = 0

    def pod(self) -> TypicalPod:
        milli = self.gpu_milli if self.gpu_milli is not None else (1000 if self.gpu_count else 0)
        return TypicalPod(cpu_milli=self.cpu_milli, gpu_milli=milli, gpu_count=self.gpu_count,
                          gpu_models=self.gpu_models, popularity=self.popularity, memory_mib=self.memory_mib)


class PolicyFile(_Strict):
    """The scheduler's policy file (module docstring)."""

    default: StrategyName = Strategy.BINPACK
    pools: dict[StrictStr, StrategyName] = {}
    typical_pods: tuple[TypicalPodFile, ...] = ()
    fgd_quantized: Flag = False
    fgd_stranding: Flag = True
    fgd_stranding_whole: Flag = True
    fgd_stranding_scarce: Flag = True
    fgd_packing: Milli = FGD_PACKING
    fgd_packing_gpus: Flag = False
    fgd_packing_constrained: Milli = FGD_PACKING_CONSTRAINED
    fgd_models: Flag = True
    fgd_scarcity: Flag = True
    learn_typical_pods: Flag = True
    typical_pods_half_life_s: Annotated[float, Field(gt=0, le=10 * 365 * 86400, allow_inf_nan=False)] = 86400.0
    typical_pods_min_pods: Count = 200


def policy_from_dict(raw: dict, source: str = "policy") -> PlacementPolicy:
    """Returns the placement policy a parsed YAML document describes; raises PolicyError naming each bad field."""
    try:
        doc = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{source}: " + "; ".join(problems(exc)[:5])) from None
    typical = tuple(p.pod() for p in doc.typical_pods)
    fgd = doc.default == Strategy.FGD or Strategy.FGD in doc.pools.values()
    if not typical and fgd:
        typical = DEFAULT_TYPICAL_PODS
    return PlacementPolicy(default=doc.default, per_pool=dict(doc.pools), typical_pods=typical,
                           fgd_quantized=doc.fgd_quantized, fgd_stranding=doc.fgd_stranding,
                           fgd_stranding_whole=doc.fgd_stranding_whole,
                           fgd_stranding_scarce=doc.fgd_stranding_scarce,
                           fgd_packing=doc.fgd_packing, fgd_packing_gpus=doc.fgd_packing_gpus,
                           fgd_packing_constrained=doc.fgd_packing_constrained,
                           fgd_models=doc.fgd_models, fgd_scarcity=doc.fgd_scarcity,
                           learn_typical=doc.learn_typical_pods and fgd,
                           typical_half_life_s=doc.typical_pods_half_life_s,
                           typical_min_pods=doc.typical_pods_min_pods)


def load_policy(path: str | Path) -> PlacementPolicy:
    """Returns the policy in the YAML file at ``path`` (bin-pack everywhere if there is no such file)."""
    path = Path(path)
    if not path.exists():
        return PlacementPolicy()
    raw = read_yaml(path, "scheduler policy", PolicyError)
    return policy_from_dict({} if raw is None else raw, str(path))
