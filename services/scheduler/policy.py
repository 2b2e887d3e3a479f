"""The scheduler's placement policy from a small YAML file: a strategy per pool, and FGD's typical pod mix.

```yaml
default: binpack            # binpack | spread | best_fit | fgd  (applies to pools not listed)
pools: {a100: fgd}          # per pool (the pool of the workload's assigned flavor)
typical_pods:               # FGD only: the expected pod mix (default: a generic GPU mix)
  - {cpu_milli: 8000, gpu_count: 1, popularity: 0.5}
  - {cpu_milli: 4000, gpu_count: 1, gpu_milli: 500, popularity: 0.2}
fgd_quantized: false        # FGD only: the simulator's integer scores (ties go to node order)
fgd_stranding: true         # FGD only: also count GPUs a node's remaining CPU/memory can no longer serve
fgd_packing: 50             # FGD only: milli of fragmentation a node with all CPU allocated is worth (0: off)
fgd_models: true            # FGD only: weigh a node by the typical pods that accept its GPU model
```
Defaults are the policy benchmarks/placement_fgd_mixes.py measures as "ours" (ADR 0017).
A missing file means bin-pack everywhere.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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


class PolicyError(ValueError):
    """The policy YAML is unreadable or invalid; the message names the file and the field."""


def policy_from_dict(raw: dict, source: str = "policy") -> PlacementPolicy:
    """Returns the placement policy a parsed YAML document describes."""
    try:
        default = Strategy(raw.get("default", "binpack"))
        per_pool = {str(pool): Strategy(s) for pool, s in (raw.get("pools") or {}).items()}
    except ValueError as exc:
        choices = ", ".join(s.value for s in Strategy)
        raise PolicyError(f"{source}: {exc} (choose one of: {choices})") from None
    uses_fgd = default == Strategy.FGD or Strategy.FGD in per_pool.values()
    typical = tuple(_typical_pod(p, source) for p in raw.get("typical_pods") or ())
    if uses_fgd and not typical:
        typical = DEFAULT_TYPICAL_PODS
    return PlacementPolicy(default=default, per_pool=per_pool, typical_pods=typical,
                           fgd_quantized=_flag(raw, "fgd_quantized", False, source),
                           fgd_stranding=_flag(raw, "fgd_stranding", True, source),
                           fgd_packing=_milli(raw, "fgd_packing", FGD_PACKING, source),
                           fgd_models=_flag(raw, "fgd_models", True, source))


def _milli(raw: dict, name: str, default: float, source: str) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise PolicyError(f"{source}: {name} must be a finite number of milli >= 0, got {value!r}")
    return float(value)


def _flag(raw: dict, name: str, default: bool, source: str) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise PolicyError(f"{source}: {name} must be true or false, got {value!r}")
    return value


def _typical_pod(raw: dict, source: str) -> TypicalPod:
    try:
        count = int(raw.get("gpu_count", 0))
        return TypicalPod(cpu_milli=int(raw.get("cpu_milli", 0)), gpu_count=count,
                          gpu_milli=int(raw.get("gpu_milli", 1000 if count else 0)),
                          gpu_models=tuple(raw.get("gpu_models", ())), popularity=float(raw["popularity"]),
                          memory_mib=int(raw.get("memory_mib", 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"{source}: typical pod {raw!r}: {exc!r}") from None


def load_policy(path: str | Path) -> PlacementPolicy:
    """Returns the policy in the YAML file at ``path`` (bin-pack everywhere if there is no such file)."""
    path = Path(path)
    if not path.exists():
        return PlacementPolicy()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read the scheduler policy: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: the scheduler policy must be a mapping")
    return policy_from_dict(raw, str(path))
