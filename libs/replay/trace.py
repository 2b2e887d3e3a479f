"""Trace records: one ``TraceJob`` per workload to replay, and the reader's bad-row tally.

A trace job is the replay's neutral shape, independent of the trace format: who submits it
(team), when, for how long it runs once placed, and its gang (pod sets). Adapters in
``libs.replay.adapters`` turn it into the quota core's and the placement core's workloads.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TracePodSet:
    """A group of identical pods of one trace job (per-pod requests)."""

    name: str
    count: int
    gpus: int = 0  # whole GPUs per pod
    gpu_milli: int = 1000  # per GPU; < 1000 is a shared fraction of one GPU (then gpus == 1)
    cpu_milli: int = 0
    memory_mib: int = 0
    gpu_models: tuple[str, ...] = ()  # any of these models; empty = any

    @property
    def gpu_milli_total(self) -> int:
        """Return the GPU milli-units the whole pod set holds."""
        return self.count * self.gpus * self.gpu_milli


@dataclass(frozen=True, slots=True)
class TraceJob:
    """One workload of a trace: team, arrival time (s from trace start), run time and gang."""

    id: str
    team: str
    arrival: float
    duration: float  # seconds of running once placed (restarts from zero after an eviction)
    pod_sets: tuple[TracePodSet, ...]
    priority_class: str | None = None

    @property
    def gpus(self) -> float:
        """Return the GPUs the whole gang holds (fractional for shared GPUs)."""
        return sum(ps.gpu_milli_total for ps in self.pod_sets) / 1000.0


@dataclass
class ReadReport:
    """What a reader kept and what it skipped, with a count per reason."""

    source: str
    rows: int = 0  # data rows seen
    kept: int = 0  # jobs produced
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    notes: list[str] = field(default_factory=list)  # modelling choices worth telling the user

    def skip(self, reason: str) -> None:
        """Count one bad row under ``reason``."""
        self.skipped[reason] += 1

    @property
    def skipped_total(self) -> int:
        """Return how many rows were skipped for any reason."""
        return sum(self.skipped.values())

    def summary(self) -> str:
        """Return one line: kept, skipped and why."""
        why = ", ".join(f"{n} {r}" for r, n in self.skipped.most_common())
        return f"{self.source}: {self.kept}/{self.rows} rows kept" + (f"; skipped {why}" if why else "")


class TraceError(ValueError):
    """The trace cannot be read at all (missing directory or file, unreadable header)."""


def repo_root() -> Path:
    """Return the repository root (the directory holding ``libs/``)."""
    return Path(__file__).resolve().parents[2]


def traces_root() -> Path:
    """Return the shared traces directory: $BATCHYARD_TRACES, else ../shared/data/traces beside the repo."""
    env = os.environ.get("BATCHYARD_TRACES")
    return Path(env) if env else repo_root().parent / "shared" / "data" / "traces"


def resolve_trace(path: str | Path) -> Path:
    """Return an existing trace path: as given, under the repo, or under the shared traces root.

    Raises TraceError naming every place looked in when none exists.
    """
    path = Path(path)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, repo_root() / path, traces_root() / path]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise TraceError(f"trace {path} not found (looked in: {looked}); the public traces live in "
                     f"../shared/data/traces beside the repo, or set BATCHYARD_TRACES")
