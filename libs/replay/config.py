"""Replay configuration (YAML): which trace, which fleet, which quota policy and placement.

```yaml
name: philly-fair
trace: {format: philly, path: philly}          # philly | alibaba | yaml; path under the traces root
fleet: deploy/fleet/philly.yaml                # a libs.fleet FleetSpec; optional for alibaba
fleet_scale: 0.007                             # optional: that share of the fleet's nodes, shapes in proportion
policy: fair-share                             # fifo | priority | static | borrowing | fair-share
quota_scale: {6214e9: 1.2}                     # what-if: team (or "team:flavor") nominal × factor
placement: {default: binpack, per_pool: {philly: fgd}}   # or {policy_file: deploy/scheduler/policy.yaml}
failures: {node_mtbf_hours: 2000, mttr_hours: 4, seed: 7}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.events.registry import describe
from libs.events.validation import read_yaml
from libs.placement import Strategy
from libs.quota import QueueingStrategy

from .trace import repo_root

Policy = Literal["fifo", "priority", "static", "borrowing", "fair-share"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TraceSource(_Model):
    """Where the workload trace comes from."""

    format: Literal["philly", "alibaba", "yaml"] = "philly"
    path: str | None = None  # default: the format's directory under the traces root
    limit: int | None = Field(default=None, ge=1, description="Replay only the first N jobs (by file order).")


class PlacementSettings(_Model):
    """Placement strategy per pool (libs.placement.PlacementPolicy).

    ``policy_file``: a scheduler policy YAML (``deploy/scheduler/policy.yaml``), read as the scheduler reads it
    (``libs.placement.policy_file``): its strategies, FGD knobs and typical pods, learned from the replayed
    workloads when the file says so; ``default`` and ``per_pool``, when given here, override its pools. Without
    it, FGD's typical pods are the whole trace's most common shapes (the FGD paper's), and ``fgd_quantized``
    gives the FGD simulator's integer scores.
    """

    default: Strategy = Strategy.BINPACK
    per_pool: dict[str, Strategy] = Field(default_factory=dict)
    policy_file: str | None = None
    fgd_quantized: bool = False
    node_preemption: bool = True  # as the scheduler service: evict whole lower-priority gangs when a reserved gang
    # finds no nodes (libs.placement.schedule); off: it waits for capacity


class FailureSettings(_Model):
    """Node failure and repair injection (exponential times, seeded)."""

    node_mtbf_hours: float | None = Field(default=None, gt=0, description="Mean time between failures per node.")
    mttr_hours: float = Field(default=4.0, gt=0, description="Mean time to repair.")
    seed: int = 0


class ReplayConfig(_Model):
    """One replay: trace × fleet × policy."""

    name: str = "replay"
    trace: TraceSource = TraceSource()
    fleet: str | None = None
    fleet_scale: float | None = Field(default=None, gt=0, le=1, description="Keep this share of the fleet's "
                                      "nodes, each node shape in proportion (a fleet scaled to the trace's demand).")
    policy: Policy = "fair-share"
    queueing: QueueingStrategy = QueueingStrategy.STRICT_FIFO
    preemption: bool = True  # allow the policy's quota preemption (priority, reclaim, fair sharing)
    min_runtime_s: float = Field(default=0.0, ge=0, description="Younger workloads are never preempted.")
    quota_file: str | None = None  # a Kueue-shaped quota YAML instead of the generated one
    team_gpus: dict[str, int] = Field(default_factory=dict)  # nominal GPU quota overrides per team
    quota_to_fleet: bool = False  # rescale team quotas (keeping proportions) to sum to the fleet's GPUs
    quota_scale: dict[str, float] = Field(default_factory=dict)  # what-if: "team" or "team:flavor" → factor
    team_priority: dict[str, int] = Field(default_factory=dict)  # policy "priority": team → priority
    default_priority: int = 0
    placement: PlacementSettings = PlacementSettings()
    failures: FailureSettings = FailureSettings()
    backoff_base_s: float = 10.0
    backoff_max_s: float = 3600.0
    cycle_interval_s: float = Field(default=0.0, ge=0, description="0: a cycle after every change; "
                                    "else at most one scheduling pass per interval (like a service's cadence).")
    sample_every_s: float = Field(default=3600.0, gt=0, description="Time-series sampling interval.")
    horizon_s: float | None = Field(default=None, gt=0, description="Stop at this simulated time.")


class ReplayConfigError(ValueError):
    """The replay config is unreadable or invalid; the message says where."""


def load_replay_config(path: str | Path) -> ReplayConfig:
    """Return the config in the YAML file at ``path`` (relative paths also tried under the repo)."""
    path = Path(path)
    if not path.exists() and (repo_root() / path).exists():
        path = repo_root() / path
    data = read_yaml(path, "replay config", ReplayConfigError) or {}
    try:
        return ReplayConfig.model_validate(data)
    except ValidationError as exc:
        raise ReplayConfigError(f"{path}: invalid replay config: {describe(exc, root='')}") from None


def resolve_repo_path(path: str) -> Path:
    """Return ``path`` as given if it exists, else relative to the repository root."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else repo_root() / p
